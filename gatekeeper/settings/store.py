"""Settings of what the gatekeeper keeps and reaches: the audit database, its checkpoints
and witness, and the Kubernetes API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from gatekeeper.settings._base import Seconds, _Section

SQLITE_FILE = re.compile(r"^(?P<scheme>sqlite(?:\+\w+)?:///)(?P<path>[^?]+)(?P<query>\?.*)?$")


class DatabaseSettings(_Section):
    url: str = Field("sqlite:///gatekeeper.db", description="SQLAlchemy URL of the audit store.")
    pool_size: int = Field(5, ge=1, description="Connections kept open (PostgreSQL).")
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite only. full: every commit is on disk when it returns, power loss "
        "included. normal: a commit survives the process crashing but the last ones may be "
        "lost with the machine; commits wait for no disk flush.",
    )

    def sqlite_file(self) -> Path | None:
        """The database file of a SQLite URL (None for an in-memory one or another engine)."""
        match = SQLITE_FILE.match(self.url)
        if match is None or match["path"] == ":memory:" or match["path"].startswith("file:"):
            return None
        return Path(match["path"])

    def redacted_url(self) -> str:
        """The URL with any password masked, for messages and logs."""
        return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", self.url)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url() if name == "url" else value)


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class WitnessSettings(_Section):
    """Where checkpoints are also written, outside the database: exactly one of the three."""

    folder: Path | None = Field(
        None, description="A folder: one JSON file per checkpoint, never overwritten."
    )
    git: Path | None = Field(
        None, description="A local Git repository (created when missing): a commit per checkpoint."
    )
    config_map: str | None = Field(
        None,
        description="`namespace/name` of a ConfigMap (created when missing): a key per checkpoint.",
    )

    @field_validator("config_map")
    @classmethod
    def _namespace_and_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        namespace, _, name = value.partition("/")
        # The name is also a label value (it finds the ConfigMaps of a long log), hence 63.
        if not (_DNS_LABEL.match(namespace) and _DNS_LABEL.match(name)):
            raise ValueError(f"{value!r} is not 'namespace/name' (lower-case DNS labels)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> WitnessSettings:
        given = [self.folder, self.git, self.config_map]
        if sum(value is not None for value in given) != 1:
            raise ValueError("set exactly one of folder, git or configMap")
        return self


class AuditSettings(_Section):
    signing_key_file: Path | None = Field(
        None, description="PEM Ed25519 private key for checkpoints; never stored in the database."
    )
    signing_key: SecretStr | None = Field(
        None, description="The same key given inline (PEM), e.g. from a Kubernetes Secret."
    )
    public_key_file: Path | None = Field(None, description="PEM Ed25519 public key for verify.")
    checkpoint_interval: Seconds = Field(
        60.0, gt=0, description="Seconds between signed checkpoints."
    )
    checkpoint_max_age: Seconds | None = Field(
        None,
        gt=0,
        description="With checkpoints configured, `audit verify` and reports fail when records "
        "have waited longer than this for a checkpoint. Null: three checkpoint intervals.",
    )
    checkpoint_max_uncovered: int = Field(
        100_000,
        ge=1,
        description="With checkpoints configured, `audit verify` and reports fail when more "
        "records than this come after the newest checkpoint.",
    )
    secret_digest_key_file: Path | None = Field(
        None,
        description="Key (at least 32 bytes) of the HMAC that replaces Secret values and "
        "sensitive fields; never stored in the database. The webhook and the reconciler must "
        "share it. Null: `secret-digest.key` beside the config file, created when missing.",
    )
    batch_max_size: int = Field(512, ge=1, description="Most records committed at once.")
    sensitive_fields: list[str] = Field(
        default_factory=list,
        description="Extra dotted payload paths replaced by their SHA-256 digest.",
    )
    witness: WitnessSettings | None = Field(
        None,
        description="Where every checkpoint is also written, so that `audit verify --witness` "
        "can tell when the database's checkpoints were deleted or rewritten.",
    )

    def effective_checkpoint_max_age(self) -> float:
        """`checkpointMaxAge`, or three checkpoint intervals when it is not set."""
        if self.checkpoint_max_age is not None:
            return self.checkpoint_max_age
        return 3 * self.checkpoint_interval


class KubernetesSettings(_Section):
    """How the gatekeeper reaches the Kubernetes API."""

    kubeconfig: Path | None = Field(None, description="Kubeconfig file; in-cluster when null.")
    context: str | None = None
