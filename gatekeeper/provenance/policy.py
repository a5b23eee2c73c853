"""The trust policy (DESIGN section 7): who may sign, with which keys, which paths."""

from __future__ import annotations

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
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from gatekeeper.provenance import openpgp, sshsig
from gatekeeper.provenance.errors import TrustPolicyError
from gatekeeper.provenance.globs import PathGlob, check_pattern
from gatekeeper.provenance.signatures import Keyring
from gatekeeper.provenance.ssh import SshKey
from gatekeeper.provenance.verdicts import MatchedRule

API_VERSION = "gatekeeper.dev/v1alpha1"
ANY_SIGNER = "*"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


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


class SignerModel(_Model):
    name: str = Field(min_length=1, pattern=r"^[^*\s]+$")
    emails: list[str] = []
    openpgp: str | None = None
    ssh: list[Annotated[SshKeyModel, BeforeValidator(_ssh_entry)]] = []

    @field_validator("openpgp")
    @classmethod
    def _openpgp_parses(cls, value: str | None) -> str | None:
        if value is not None:
            openpgp.parse_certs(value)
        return value

    @model_validator(mode="after")
    def _has_a_key(self) -> SignerModel:
        if self.openpgp is None and not self.ssh:
            raise ValueError(f"signer {self.name!r} has no key: give openpgp and/or ssh")
        return self


class RuleModel(_Model):
    paths: list[Annotated[str, AfterValidator(check_pattern)]] = Field(min_length=1)
    signers: list[str] = Field(min_length=1)
    min_signers: int = Field(1, ge=1)


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
            if ANY_SIGNER not in rule.signers and rule.min_signers > len(set(rule.signers)):
                raise ValueError(
                    f"rules[{index}] needs minSigners={rule.min_signers}"
                    f" but allows only {len(set(rule.signers))} signers"
                )
        return self


@dataclass(frozen=True, slots=True)
class Rule:
    """A path rule: who may change the paths it matches, and how many of them must."""

    index: int
    globs: tuple[PathGlob, ...]
    signers: frozenset[str] | None
    min_signers: int

    @property
    def label(self) -> str:
        return f"rules[{self.index}] ({', '.join(g.pattern for g in self.globs)})"

    def allows(self, signer: str) -> bool:
        return self.signers is None or signer in self.signers

    def matched(self) -> MatchedRule:
        """The rule as a verdict names it."""
        return MatchedRule(
            index=self.index,
            paths=tuple(g.pattern for g in self.globs),
            signers=None if self.signers is None else tuple(sorted(self.signers)),
            min_signers=self.min_signers,
        )

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


def _build(model: TrustPolicyModel) -> TrustPolicy:
    pgp_keys: list[openpgp.SigningKey] = []
    ssh_keys: list[SshKey] = []
    for signer in model.signers:
        if signer.openpgp is not None:
            for cert in openpgp.parse_certs(signer.openpgp):
                pgp_keys.extend(openpgp.signing_keys(signer.name, cert))
        for spec in signer.ssh:
            blob = sshsig.public_key_blob(spec.key)
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
        keyring=Keyring(openpgp=pgp_keys, ssh=ssh_keys),
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


def parse_trust_policy(document: Any, *, origin: str = "trust policy") -> TrustPolicy:
    """Validate a decoded document (a mapping) into a TrustPolicy; TrustPolicyError if invalid."""
    if not isinstance(document, Mapping):
        raise TrustPolicyError(f"{origin}: a TrustPolicy mapping is expected")
    try:
        model = TrustPolicyModel.model_validate(document)
    except ValidationError as exc:
        raise TrustPolicyError(_describe(exc, origin)) from exc
    return _build(model)


def load_trust_policy(path: Path) -> TrustPolicy:
    """Read and validate a trust policy YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustPolicyError(f"{path}: cannot read the trust policy: {exc.strerror}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TrustPolicyError(f"{path}: not valid YAML: {exc}") from exc
    return parse_trust_policy(document, origin=str(path))
