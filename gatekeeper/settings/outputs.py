"""Settings of what leaves the gatekeeper: notifications, PolicyReports, push receivers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from gatekeeper.settings._base import _ENV_NAME, Seconds, _Section

_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$|^\*$")
DEFAULT_NOTIFIED_KINDS = (
    "sync.rejected",
    "sync.failed",
    "sync.unhealthy",
    "drift.detected",
    "rollback",
    "breakglass",
    "admission.denied",
    "policy.reload_failed",
    "notification.dropped",
)


class RetrySettings(_Section):
    """How a delivery that failed is tried again: exponential backoff with jitter."""

    initial: Seconds = Field(1.0, gt=0, description="Wait before the first retry.")
    max: Seconds = Field(60.0, gt=0, description="Longest wait between two tries.")
    give_up_after: Seconds = Field(
        86_400.0,
        gt=0,
        description="After this long failing, the record is passed over and a "
        "`notification.dropped` record says so; the ones after it go on.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> RetrySettings:
        if self.max < self.initial:
            raise ValueError("max must not be shorter than initial")
        return self


class EventObject(_Section):
    """The object Kubernetes Events about a whole source (not one object) are attached to."""

    api_version: str = "coordination.k8s.io/v1"
    kind: str = "Lease"
    namespace: str = Field("gatekeeper-system", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    name: str = Field("gatekeeper-reconciler", min_length=1, max_length=200)


class NotificationTarget(_Section):
    """One place notifications go, and which records it hears of."""

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Names the target's delivery cursor: renaming it starts afresh at the head.",
    )
    type: Literal["webhook", "slack", "kubernetesEvents"]
    url: SecretStr | None = Field(None, description="Where to POST (webhook, slack).")
    url_file: Path | None = Field(
        None, description="A file holding the URL instead (a Slack URL is a credential)."
    )
    secret: SecretStr | None = Field(
        None, description="webhook: key of the HMAC-SHA256 signature of each body."
    )
    secret_file: Path | None = Field(None, description="The same key, read from a file.")
    kinds: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFIED_KINDS),
        min_length=1,
        description="Record kinds delivered; `sync.*` takes every kind under sync, `*` all.",
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Only records of these sources (records of no source, such as the "
        "webhook's for unmanaged objects, are left out then); empty: every record.",
    )
    timeout: Seconds = Field(5.0, gt=0, description="Longest one delivery may take.")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    source_object: EventObject = Field(
        default_factory=EventObject,
        description="kubernetesEvents: the object Events about a whole source go on.",
    )

    @field_validator("kinds")
    @classmethod
    def _kind_patterns(cls, kinds: list[str]) -> list[str]:
        for kind in kinds:
            if not _KIND_PATTERN.match(kind):
                raise ValueError(
                    f"{kind!r} is not a record kind (sync.rejected), a family (sync.*) or *"
                )
        return kinds

    @model_validator(mode="after")
    def _fits_its_type(self) -> NotificationTarget:
        has_url = self.url is not None or self.url_file is not None
        if self.type == "kubernetesEvents":
            if has_url or self.secret is not None or self.secret_file is not None:
                raise ValueError("kubernetesEvents takes no url or secret")
            return self
        if (self.url is None) == (self.url_file is None):
            raise ValueError(f"{self.type} needs exactly one of url or urlFile")
        if self.url is not None and not _is_http_url(self.url.get_secret_value()):
            raise ValueError("url must be an http:// or https:// URL")
        if self.type == "slack" and (self.secret is not None or self.secret_file is not None):
            raise ValueError("slack takes no secret: the URL itself is the credential")
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("give secret or secretFile, not both")
        return self


def _is_http_url(url: str) -> bool:
    return re.match(r"^https?://[^/\s]+", url.strip()) is not None


class NotificationSettings(_Section):
    """Records of the audit log sent on to webhooks, Slack and Kubernetes Events."""

    targets: list[NotificationTarget] = Field(default_factory=list)
    poll_interval: Seconds = Field(
        1.0, gt=0, description="Seconds between looks at the log for new records."
    )
    drain_timeout: Seconds = Field(
        10.0,
        ge=0,
        description="`reconcile --once`: how long to deliver what the pass recorded before "
        "exiting; what is left goes with the next run.",
    )

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[NotificationTarget]) -> list[NotificationTarget]:
        names = [target.name for target in targets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"target names must be unique: {', '.join(duplicates)}")
        return targets


class PolicyReportSettings(_Section):
    """Policy results written as wgpolicyk8s.io/v1alpha2 PolicyReports."""

    enabled: bool = Field(False, description="Write PolicyReports (the CRD must be installed).")
    name: str = Field(
        "gitops-gatekeeper",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Name of the PolicyReport in each namespace and of the ClusterPolicyReport.",
    )
    max_results: int = Field(
        1000, ge=1, le=5000, description="Most results one report keeps; the oldest go first."
    )
    poll_interval: Seconds = Field(
        2.0, gt=0, description="Seconds between looks at the log for new results."
    )
    retry: RetrySettings = Field(default_factory=RetrySettings)


class ReceiverHook(_Section):
    """One push receiver: `POST /hooks/<name>` from one Git host, verified with its secret."""

    provider: Literal["github", "gitlab", "gitea", "bitbucket"]
    name: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="The path segment (default: the provider).",
    )
    secret: SecretStr | None = Field(None, description="The shared secret (or GitLab's token).")
    secret_file: Path | None = Field(None, description="The same, read from a file.")
    secret_env: str | None = Field(None, pattern=_ENV_NAME, description="Or an env variable.")
    sources: list[str] = Field(
        default_factory=list,
        description="Only these sources may be triggered; empty: any whose repo and ref match.",
    )

    @property
    def path_name(self) -> str:
        return self.name or self.provider

    @model_validator(mode="after")
    def _one_secret(self) -> ReceiverHook:
        given = [self.secret, self.secret_file, self.secret_env]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of secret, secretFile or secretEnv")
        return self


class ReceiverSettings(_Section):
    """Push receivers: Git hosts' push events start a pass of the sources they concern."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8090, ge=1, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=32 * 1024 * 1024, description="Largest event body accepted."
    )
    coalesce: Seconds = Field(
        1.0, ge=0, le=60, description="Pushes within this long of the first start one pass."
    )
    hooks: list[ReceiverHook] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ReceiverSettings:
        names = [hook.path_name for hook in self.hooks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"hook names must be unique: {', '.join(duplicates)}")
        if self.enabled and not self.hooks:
            raise ValueError("enabled receivers need at least one hook")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("give tlsCertFile and tlsKeyFile together")
        return self
