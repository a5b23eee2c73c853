"""The trust policy (DESIGN section 7): who may sign, with which keys, which paths."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from gatekeeper.provenance import authorities, openpgp, sshsig
from gatekeeper.provenance.errors import TrustPolicyError
from gatekeeper.provenance.globs import IdentityGlob, PathGlob, check_pattern
from gatekeeper.provenance.signatures import Keyring
from gatekeeper.provenance.ssh import SshKey
from gatekeeper.provenance.verdicts import MatchedRule
from gatekeeper.provenance.x509trust import Authority, CertificateSigner
from gatekeeper.settings import yamlfile

API_VERSION = "gatekeeper.dev/v1alpha1"
ANY_SIGNER = "*"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


def _check_ssh_line(value: str) -> str:
    sshsig.public_key_blob(value)
    return value


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


SshLine = Annotated[str, AfterValidator(_check_ssh_line)]


class SshKeyModel(_Model):
    """An SSH key with an optional validity window (git allowed-signers' valid-after/-before)."""

    key: SshLine
    valid_after: Annotated[datetime | None, AfterValidator(_aware)] = None
    valid_before: Annotated[datetime | None, AfterValidator(_aware)] = None

    @model_validator(mode="after")
    def _window_is_ordered(self) -> SshKeyModel:
        if self.valid_after and self.valid_before and self.valid_after >= self.valid_before:
            raise ValueError("validAfter must be earlier than validBefore")
        return self


def _ssh_entry(value: object) -> object:
    # A bare `ssh-ed25519 AAAA...` line is short for `{key: ...}`; one model gives one error.
    return {"key": value} if isinstance(value, str) else value


def _base(info: ValidationInfo) -> Path | None:
    context = info.context or {}
    base = context.get("base")
    return base if isinstance(base, Path) else None


def _check_identity(value: str) -> str:
    IdentityGlob(value)
    return value


Identity = Annotated[str, AfterValidator(_check_identity)]


class X509Model(_Model):
    """X.509 (gpgsm / S/MIME): the CA roots a signer's certificate must chain to."""

    roots: str | None = None  # PEM, inline
    roots_file: str | None = None  # PEM file, relative to the trust policy's folder

    @model_validator(mode="after")
    def _roots_parse(self, info: ValidationInfo) -> X509Model:
        if (self.roots is None) == (self.roots_file is None):
            raise ValueError("give exactly one of roots (inline PEM) and rootsFile")
        x509_roots(self, _base(info))
        return self


class SigstoreModel(_Model):
    """Sigstore gitsign (keyless): the Fulcio roots, the OIDC issuer and the subjects."""

    issuer: Identity
    subjects: list[Identity] = Field(min_length=1)
    trusted_root: str | None = None  # a Sigstore trusted_root.json, relative to the policy
    fulcio_roots: str | None = None  # PEM, inline
    require_transparency_log: bool = False

    @model_validator(mode="after")
    def _roots_parse(self, info: ValidationInfo) -> SigstoreModel:
        if (self.trusted_root is None) == (self.fulcio_roots is None):
            raise ValueError("give exactly one of trustedRoot (a file) and fulcioRoots (PEM)")
        fulcio_authorities(self, _base(info))
        return self


def x509_roots(model: X509Model, base: Path | None) -> list[Authority]:
    if model.roots is not None:
        return [Authority(roots=tuple(authorities.pem_certificates(model.roots)))]
    text = authorities.read_text(model.roots_file or "", base, what="rootsFile")
    return [Authority(roots=tuple(authorities.pem_certificates(text, what="rootsFile")))]


def fulcio_authorities(model: SigstoreModel, base: Path | None) -> list[Authority]:
    if model.fulcio_roots is not None:
        roots = authorities.pem_certificates(model.fulcio_roots, what="fulcioRoots")
        return [Authority(roots=tuple(roots))]
    text = authorities.read_text(model.trusted_root or "", base, what="trustedRoot")
    return authorities.trusted_root_authorities(text)


class SignerModel(_Model):
    name: str = Field(min_length=1, pattern=r"^[^*\s]+$")
    emails: list[str] = []
    openpgp: str | None = None
    ssh: list[Annotated[SshKeyModel, BeforeValidator(_ssh_entry)]] = []
    x509: X509Model | None = None
    sigstore: SigstoreModel | None = None

    @field_validator("openpgp")
    @classmethod
    def _openpgp_parses(cls, value: str | None) -> str | None:
        if value is not None:
            openpgp.parse_certs(value)
        return value

    @model_validator(mode="after")
    def _has_a_key(self) -> SignerModel:
        if self.openpgp is None and not self.ssh and self.x509 is None and self.sigstore is None:
            raise ValueError(
                f"signer {self.name!r} has no key: give openpgp, ssh, x509 and/or sigstore"
            )
        if self.x509 is not None:
            if not self.emails:
                raise ValueError(
                    f"signer {self.name!r} has x509 roots but no emails: list the addresses"
                    " its certificates must name"
                )
            for email in self.emails:
                IdentityGlob(email, ignore_case=True)
        return self


class RuleModel(_Model):
    paths: list[Annotated[str, AfterValidator(check_pattern)]] = Field(min_length=1)
    signers: list[str] = Field(min_length=1)
    # Strict: YAML `true` would otherwise count as 1.
    min_signers: int = Field(1, ge=1, strict=True)


class TrustPolicyModel(_Model):
    api_version: Literal["gatekeeper.dev/v1alpha1"]
    kind: Literal["TrustPolicy"]
    mode: Literal["strict", "head"] = "strict"
    trust_from: str | None = Field(None, pattern=r"^[0-9a-fA-F]{4,64}$")
    signers: list[SignerModel] = Field(min_length=1)
    rules: list[RuleModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_resolve(self) -> TrustPolicyModel:
        names = [s.name for s in self.signers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"signer names must be unique: {', '.join(duplicates)}")
        for index, rule in enumerate(self.rules):
            unknown = [n for n in rule.signers if n != ANY_SIGNER and n not in names]
            if unknown:
                raise ValueError(f"rules[{index}] names unknown signers: {', '.join(unknown)}")
            # `*` allows every listed signer, and no more.
            allowed = len(names) if ANY_SIGNER in rule.signers else len(set(rule.signers))
            if rule.min_signers > allowed:
                raise ValueError(
                    f"rules[{index}] needs minSigners={rule.min_signers}"
                    f" but allows only {allowed} signers"
                )
        return self


@dataclass(frozen=True, slots=True)
class Rule:
    """A path rule: who may change the paths it matches, and how many of them must."""

    index: int
    globs: tuple[PathGlob, ...]
    signers: frozenset[str] | None
    min_signers: int
    label: str = field(init=False, compare=False)
    _matched: MatchedRule = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Both are named in every verdict the rule decides: made once.
        patterns = tuple(g.pattern for g in self.globs)
        object.__setattr__(self, "label", f"rules[{self.index}] ({', '.join(patterns)})")
        matched = MatchedRule(
            index=self.index,
            paths=patterns,
            signers=None if self.signers is None else tuple(sorted(self.signers)),
            min_signers=self.min_signers,
        )
        object.__setattr__(self, "_matched", matched)

    def allows(self, signer: str) -> bool:
        return self.signers is None or signer in self.signers

    def matched(self) -> MatchedRule:
        """The rule as a verdict names it."""
        return self._matched

    def specificity_for(self, path: str) -> tuple[int, int, int, int] | None:
        best = [g.specificity for g in self.globs if g.matches(path)]
        return max(best) if best else None


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """A loaded, validated trust policy with its keys parsed."""

    mode: Literal["strict", "head"]
    trust_from: str | None
    signers: tuple[str, ...]
    emails: Mapping[str, tuple[str, ...]]
    rules: tuple[Rule, ...]
    keyring: Keyring
    _decided: dict[str, Rule | None] = field(default_factory=dict, compare=False, repr=False)

    def rule_for(self, path: str) -> Rule | None:
        """The most specific rule matching `path` (earlier rules win ties), or None."""
        if path in self._decided:
            return self._decided[path]
        best: Rule | None = None
        best_key: tuple[int, int, int, int] | None = None
        for rule in self.rules:
            key = rule.specificity_for(path)
            if key is not None and (best_key is None or key > best_key):
                best, best_key = rule, key
        self._decided[path] = best
        return best


def _certificate_signers(model: TrustPolicyModel, base: Path | None) -> list[CertificateSigner]:
    found: list[CertificateSigner] = []
    for signer in model.signers:
        if signer.x509 is not None:
            found.append(
                CertificateSigner(
                    signer=signer.name,
                    kind="x509",
                    authorities=tuple(x509_roots(signer.x509, base)),
                    identities=tuple(IdentityGlob(e, ignore_case=True) for e in signer.emails),
                )
            )
        if signer.sigstore is not None:
            spec = signer.sigstore
            found.append(
                CertificateSigner(
                    signer=signer.name,
                    kind="sigstore",
                    authorities=tuple(fulcio_authorities(spec, base)),
                    identities=tuple(IdentityGlob(s) for s in spec.subjects),
                    issuer=IdentityGlob(spec.issuer),
                    require_transparency_log=spec.require_transparency_log,
                )
            )
    return found


def _ssh_fingerprint(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _build(
    model: TrustPolicyModel, base: Path | None = None, *, origin: str = "trust policy"
) -> TrustPolicy:
    pgp_keys: list[openpgp.SigningKey] = []
    ssh_keys: list[SshKey] = []
    # A key listed under two signers would be credited to only one of them (which one
    # depends on the format), and a legitimate commit would be judged as the other's.
    owners: dict[str, str] = {}

    def claim(key: str, signer: str) -> None:
        owner = owners.setdefault(key, signer)
        if owner != signer:
            raise TrustPolicyError(
                f"{origin}: {key} is listed under both signer {owner!r} and signer "
                f"{signer!r}; a key belongs to one signer"
            )

    for signer in model.signers:
        if signer.openpgp is not None:
            for cert in openpgp.parse_certs(signer.openpgp):
                for key in openpgp.signing_keys(signer.name, cert):
                    claim(f"OpenPGP key {key.fingerprint.upper()}", signer.name)
                    pgp_keys.append(key)
        for spec in signer.ssh:
            blob = sshsig.public_key_blob(spec.key)
            claim(f"SSH key {_ssh_fingerprint(blob)}", signer.name)
            ssh_keys.append(
                SshKey(
                    signer=signer.name,
                    blob=blob,
                    key=sshsig.load_public_key(blob),
                    valid_after=spec.valid_after,
                    valid_before=spec.valid_before,
                )
            )
    rules = tuple(
        Rule(
            index=index,
            globs=tuple(PathGlob(p) for p in rule.paths),
            signers=None if ANY_SIGNER in rule.signers else frozenset(rule.signers),
            min_signers=rule.min_signers,
        )
        for index, rule in enumerate(model.rules)
    )
    return TrustPolicy(
        mode=model.mode,
        trust_from=model.trust_from.lower() if model.trust_from else None,
        signers=tuple(s.name for s in model.signers),
        emails={s.name: tuple(s.emails) for s in model.signers},
        rules=rules,
        keyring=Keyring(
            openpgp=pgp_keys, ssh=ssh_keys, certificates=_certificate_signers(model, base)
        ),
    )


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith(("function-", "str", "tagged-union")) or "[" in part:
            # pydantic's names for union branches and validators are not keys of the file.
            continue
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def _describe(error: ValidationError, origin: str) -> str:
    lines = []
    seen: set[str] = set()
    items = error.errors()
    for item in items:
        loc = tuple(item["loc"])
        nested = any(len(o["loc"]) > len(loc) and tuple(o["loc"][: len(loc)]) == loc for o in items)
        if item["type"] == "too_short" and nested:
            # A list whose items failed is also reported as too short: the item errors say more.
            continue
        where = _location(loc)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        line = f"{origin}: {where}: {message}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return "\n".join(lines)


def parse_trust_policy(
    document: Any, *, origin: str = "trust policy", base: Path | None = None
) -> TrustPolicy:
    """Validate a decoded document (a mapping) into a TrustPolicy; TrustPolicyError if invalid.

    Files the policy names (rootsFile, trustedRoot) are read relative to `base`.
    """
    if not isinstance(document, Mapping):
        raise TrustPolicyError(f"{origin}: a TrustPolicy mapping is expected")
    try:
        model = TrustPolicyModel.model_validate(document, context={"base": base})
    except ValidationError as exc:
        raise TrustPolicyError(_describe(exc, origin)) from exc
    return _build(model, base, origin=origin)


def load_trust_policy(path: Path) -> TrustPolicy:
    """Read and validate a trust policy YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustPolicyError(f"{path}: cannot read the trust policy: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TrustPolicyError(
            f"{path}: the trust policy is not UTF-8: byte {exc.start} cannot be decoded"
        ) from exc
    try:
        document = yamlfile.load(text)
    except yaml.YAMLError as exc:
        raise TrustPolicyError(f"{path}: not valid YAML: {exc}") from exc
    return parse_trust_policy(document, origin=str(path), base=path.parent)
