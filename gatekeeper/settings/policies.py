"""Settings of the policies: files, signed Git sources and OPA bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from gatekeeper.settings._base import Seconds, _is_remote, _Section


class PolicySourceSettings(_Section):
    """A Git repository of policies, loaded only at commits its trust policy accepts."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    repo: str = Field(min_length=1, description="URL or local path of the Git repository.")
    ref: str = "main"
    path: str = Field(".", description="Folder of the repository that holds the policies.")
    trust: Path = Field(description="Trust policy file (DESIGN section 7); its mode applies.")
    interval: Seconds = Field(60.0, description="Seconds between fetches of the repository.")


class PolicyBundleSettings(_Section):
    """An OPA bundle (`.tar.gz`): a local file, or a file of a policy source's checkout."""

    path: Path = Field(description="The archive; inside the source's path when `source` is set.")
    source: str | None = Field(None, description="A `policies.sources` name to read it from.")
    verification_key: Path | None = Field(
        None,
        description="PEM public key (RS*, PS*, ES*) or file holding the HMAC secret (HS*); "
        "when set, the bundle must carry a .signatures.json this key verifies.",
    )
    signing_alg: Literal[
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "HS256", "HS384", "HS512",
    ] = "RS256"  # fmt: skip
    key_id: str | None = None
    scope: str | None = None


class PolicySettings(_Section):
    paths: list[Path] = Field(default_factory=lambda: [Path("policies")])
    sources: list[PolicySourceSettings] = Field(
        default_factory=list,
        description="Git repositories of policies, verified with a trust policy like manifests.",
    )
    bundles: list[PolicyBundleSettings] = Field(default_factory=list)
    cache_dir: Path | None = Field(
        None, description="Where policy sources are mirrored and checked out."
    )
    engine: Literal["regorus", "opa", "opa-server"] = "regorus"
    opa_url: str | None = None
    reload_interval: Seconds = Field(
        10.0,
        ge=0,
        description="Seconds between looks at the policy files; a changed set that loads "
        "replaces the active one without a restart. 0: never reload.",
    )
    inventory: list[str] = Field(
        default_factory=list,
        description="Kinds kept in data.inventory beside the Namespaces, for referential "
        "policies (a unique Ingress host): 'apiVersion/Kind', e.g. 'networking.k8s.io/v1/Ingress'.",
    )

    @field_validator("inventory")
    @classmethod
    def _kinds(cls, kinds: list[str]) -> list[str]:
        for entry in kinds:
            api_version, _, kind = entry.rpartition("/")
            if not api_version or not kind[:1].isupper() or api_version.count("/") > 1:
                raise ValueError(f"{entry!r} is not 'apiVersion/Kind' (e.g. 'v1/Service')")
            if kind == "Secret" and api_version == "v1":
                raise ValueError("Secrets are never copied into data.inventory")
        return kinds

    def inventory_kinds(self) -> list[tuple[str, str]]:
        """(apiVersion, kind) of every `inventory` entry."""
        return [(entry.rpartition("/")[0], entry.rpartition("/")[2]) for entry in self.inventory]

    @model_validator(mode="after")
    def _source_names(self) -> PolicySettings:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"policy source names must be unique: {duplicates}")
        for bundle in self.bundles:
            if bundle.source is not None and bundle.source not in names:
                raise ValueError(f"bundle {bundle.path}: no policy source named {bundle.source}")
        return self

    def with_base(self, base: Path) -> PolicySettings:
        """These settings with relative files resolved against `base` (a bundle read from a
        policy source stays relative to that source's path)."""

        def absolute(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        def key(path: Path | None) -> Path | None:
            return None if path is None else absolute(path)

        return self.model_copy(
            update={
                "paths": [absolute(path) for path in self.paths],
                "sources": [
                    source.model_copy(
                        update={
                            "trust": absolute(source.trust),
                            "repo": source.repo
                            if _is_remote(source.repo)
                            else str(absolute(Path(source.repo))),
                        }
                    )
                    for source in self.sources
                ],
                "bundles": [
                    bundle.model_copy(
                        update={
                            "path": bundle.path if bundle.source else absolute(bundle.path),
                            "verification_key": key(bundle.verification_key),
                        }
                    )
                    for bundle in self.bundles
                ],
                "cache_dir": key(self.cache_dir),
            }
        )
