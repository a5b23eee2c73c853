"""The settings object: the YAML config file of DESIGN section 10 plus GATEKEEPER_* overrides."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gatekeeper.errors import ConfigError

CONFIG_ENV = "GATEKEEPER_CONFIG"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Turn `60s`, `5m`, `1h`, `250ms` or a bare number into seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 60s, 5m or 1h is expected")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 60s, 5m or 1h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    """A config section: camelCase in files, snake_case in code, unknown keys refused."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


class DatabaseSettings(_Section):
    url: str = Field("sqlite:///gatekeeper.db", description="SQLAlchemy URL of the audit store.")
    pool_size: int = Field(5, ge=1, description="Connections kept open (PostgreSQL).")
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite only. full: every commit is on disk when it returns, power loss "
        "included. normal: a commit survives the process crashing but the last ones may be "
        "lost with the machine; commits wait for no disk flush.",
    )

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
    checkpoint_interval: Seconds = Field(60.0, description="Seconds between signed checkpoints.")
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
    kubeconfig: Path | None = Field(None, description="Kubeconfig file; in-cluster when null.")
    context: str | None = None


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


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class HttpsCredentials(_Section):
    """HTTP Basic credentials for an http(s) remote: a username and a password or a token,
    each from a file (a mounted Secret) or an environment variable; read at each fetch."""

    username: str | None = Field(
        None, description="The user name (default with a token: x-access-token)."
    )
    username_file: Path | None = None
    username_env: str | None = Field(None, pattern=_ENV_NAME)
    password_file: Path | None = None
    password_env: str | None = Field(None, pattern=_ENV_NAME)
    token_file: Path | None = Field(None, description="An access token, sent as the password.")
    token_env: str | None = Field(None, pattern=_ENV_NAME)

    @model_validator(mode="after")
    def _one_of_each(self) -> HttpsCredentials:
        names = [self.username, self.username_file, self.username_env]
        secrets = [self.password_file, self.password_env, self.token_file, self.token_env]
        if sum(value is not None for value in names) > 1:
            raise ValueError("give one of username, usernameFile or usernameEnv")
        if sum(value is not None for value in secrets) != 1:
            raise ValueError("give exactly one of passwordFile, passwordEnv, tokenFile or tokenEnv")
        if all(value is None for value in names) and (
            self.password_file is not None or self.password_env is not None
        ):
            raise ValueError("a password needs a username (username, usernameFile or usernameEnv)")
        return self


class SshCredentials(_Section):
    """A deploy key for an SSH remote and the host keys it may present (nothing else is
    trusted: no agent, no ~/.ssh, no prompt)."""

    private_key_file: Path = Field(description="The private key (OpenSSH format, no passphrase).")
    known_hosts_file: Path = Field(description="known_hosts lines of the server's host keys.")
    connect_timeout: Seconds = Field(30.0, gt=0, description="Longest wait for the server.")


class SourceCredentials(_Section):
    """How a source's private repository is reached: over HTTPS or over SSH."""

    https: HttpsCredentials | None = None
    ssh: SshCredentials | None = None

    @model_validator(mode="after")
    def _one(self) -> SourceCredentials:
        if (self.https is None) == (self.ssh is None):
            raise ValueError("give https or ssh credentials, exactly one")
        return self


def _is_ssh_url(repo: str) -> bool:
    return repo.startswith("ssh://") or re.match(r"^[\w.-]+@[\w.-]+:", repo) is not None


class SourceSettings(_Section):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    repo: str = Field(min_length=1, description="URL or local path of the Git repository.")
    ref: str = "main"
    path: str = "."
    interval: Seconds = 60.0
    trust: Path = Field(description="Trust policy file (DESIGN section 7).")
    render: Literal["auto", "yaml", "kustomize", "helm"] = "auto"
    prune: bool = True
    drift: Literal["correct", "report"] = "correct"
    health_timeout: Seconds = 120.0
    namespace: str | None = Field(None, description="Namespace for objects that name none.")
    auto_rollback: bool = Field(
        True,
        description="Roll back to the last healthy commit when a sync stays unhealthy "
        "past healthTimeout (or fails outright).",
    )
    release_name: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=53,
        description="Helm release name (default: the source's name).",
    )
    values_files: list[str] = Field(
        default_factory=list,
        description="Helm values files, repository paths, merged in order over the chart's "
        "values.yaml.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict, description="Helm values merged last, over valuesFiles."
    )
    helm_repositories: list[str] = Field(
        default_factory=list,
        description="Helm repositories (http/https URLs) that dependencies locked in a "
        "chart's Chart.lock may be fetched from; no others.",
    )
    create_namespace: bool = Field(
        False, description="Create `namespace` (as an object of the source) when missing."
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Sources that must be synced and healthy before this one syncs.",
    )
    credentials: SourceCredentials | None = Field(
        None, description="For a private repository: HTTPS credentials or an SSH deploy key."
    )
    fetch_timeout: Seconds = Field(
        300.0, gt=0, description="Longest a clone or fetch may take before it is stopped."
    )

    @model_validator(mode="after")
    def _check_relations(self) -> SourceSettings:
        if self.name in self.depends_on:
            raise ValueError(f"source {self.name} cannot depend on itself")
        if self.create_namespace and not self.namespace:
            raise ValueError("createNamespace needs a namespace")
        for repository in self.helm_repositories:
            if not re.match(r"^https?://[^/]", repository):
                raise ValueError(f"helmRepositories: {repository!r} is not an http(s) URL")
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", self.repo, re.IGNORECASE):
            raise ValueError(
                "repo must not hold a password or token: it would be logged and recorded; "
                "give it in credentials.https"
            )
        if self.credentials is not None:
            if self.credentials.https is not None and not re.match(r"^https?://", self.repo):
                raise ValueError("credentials.https needs an http:// or https:// repo")
            if self.credentials.ssh is not None and not _is_ssh_url(self.repo):
                raise ValueError("credentials.ssh needs an ssh:// or user@host:path repo")
        return self


class ReconcilerLimits(_Section):
    """How much of a commit the reconciler reads: anything beyond is refused (`sync.rejected`)
    before it is parsed further, so that no commit can exhaust the reconciler."""

    max_file_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest file under a source's path, in bytes."
    )
    max_total_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Most bytes of all the files under a source's path at one commit, and of "
        "what a renderer (kustomize, helm) writes from them.",
    )
    max_files: int = Field(10_000, ge=1, description="Most files under a source's path.")
    max_object_bytes: int = Field(
        1536 * 1024,
        ge=1024,
        description="Largest object, as JSON. etcd refuses values over 1.5 MiB by default "
        "and the API server requests over 3 MiB.",
    )
    max_documents: int = Field(
        10_000, ge=1, description="Most YAML documents (and List items) of one commit."
    )
    max_yaml_aliases: int = Field(100, ge=0, description="Most YAML aliases (`*name`) in one file.")
    max_yaml_alias_nodes: int = Field(
        10_000,
        ge=0,
        description="Most values the aliases of one file may copy in all: a few aliases of "
        "aliases (a YAML bomb) would otherwise copy billions.",
    )
    max_yaml_depth: int = Field(
        100,
        ge=4,
        le=500,
        description="Deepest nesting of mappings and sequences in a document.",
    )


class ReconcilerSettings(_Section):
    """The reconciler, beside its `sources`."""

    limits: ReconcilerLimits = Field(default_factory=ReconcilerLimits)


class AdmissionSettings(_Section):
    reconciler_identity: str = "system:serviceaccount:gatekeeper-system:gatekeeper"
    guarded_namespaces: list[str] = Field(default_factory=lambda: ["*"])
    exempt_namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-node-lease", "gatekeeper-system"],
        description="Namespaces the webhook never refuses in (node heartbeats live in "
        "kube-node-lease).",
    )
    exempt_users: list[str] = Field(default_factory=list)
    exempt_groups: list[str] = Field(default_factory=list)
    break_glass_groups: list[str] = Field(default_factory=lambda: ["gatekeeper:break-glass"])
    fail_closed: bool = Field(
        True,
        description="Deny unmanaged objects too when a decision cannot be made or recorded.",
    )
    guarded_kinds: list[str] = Field(
        default_factory=list,
        description="Kinds (globs) only the reconciler may create in guarded namespaces.",
    )
    exempt_subresources: list[str] = Field(
        default_factory=lambda: ["status"],
        description="Subresources whose writes skip the policies (controllers write status), "
        "as long as they change no provenance label or annotation.",
    )
    break_glass_lifts: list[str] = Field(
        default_factory=lambda: ["library.provenance_verified"],
        description="Policies that state the Git requirement; break-glass lifts their denials.",
    )
    namespace_labels: Literal["auto", "watch", "off"] = Field(
        "auto",
        description="Keep the namespaces' labels in data.inventory (for constraints with a "
        "namespaceSelector) by watching Namespaces; auto: when a kubeconfig is set or the "
        "webhook runs in a Pod.",
    )
    record_batch_delay: Seconds = Field(
        0.0,
        ge=0,
        description="How long a decision's record may wait for others to share its commit. "
        "0: none; records that arrive during a commit share the next one, and a lone "
        "record is committed at once. Every answer waits for its record's commit.",
    )
    decision_timeout: Seconds = Field(
        3.0,
        gt=0,
        description="Longest a decision may take (a commit under way gets 0.5 s more); keep "
        "it at least a second below the webhook's timeoutSeconds.",
    )


class ServerSettings(_Section):
    host: str = Field(
        "127.0.0.1",
        description="Address to listen on; 0.0.0.0 in a Pod, where the API server must reach it.",
    )
    port: int = Field(8443, ge=1, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    max_body_bytes: int = Field(3 * 1024 * 1024, ge=1024)
    tls_reload_interval: Seconds = Field(
        10.0,
        gt=0,
        description="Seconds between checks of the certificate and client CA files for changes.",
    )
    client_ca_file: Path | None = Field(
        None,
        description="PEM CA(s) the API server's client certificate must verify against; when "
        "set, a review without such a certificate is refused and never recorded. Needs TLS.",
    )
    client_names: list[str] = Field(
        default_factory=list,
        description="Common names (CN) a client certificate may carry, e.g. kube-apiserver; "
        "empty: any certificate clientCaFile verifies.",
    )
    request_timeout: Seconds = Field(
        5.0,
        gt=0,
        description="Longest a client may take to send a request's headers or its body; a "
        "stalled request is answered 408 and its connection closed.",
    )
    shutdown_delay: Seconds = Field(
        0.0,
        ge=0,
        description="After SIGTERM, how long the webhook goes on accepting connections with "
        "/readyz answering 503, so that whoever probes it stops sending reviews first. The "
        "chart waits in a preStop hook instead (docs/admission.md, Stopping).",
    )
    shutdown_timeout: Seconds = Field(
        25.0,
        gt=0,
        description="After it stops accepting connections, how long the webhook answers the "
        "reviews in flight; one still running then is cut and answered 500, never allowed.",
    )

    @model_validator(mode="after")
    def _names_need_a_ca(self) -> ServerSettings:
        if self.client_names and self.client_ca_file is None:
            raise ValueError("clientNames needs clientCaFile")
        return self


class DashboardSettings(_Section):
    """The auditors' web page and report API (`gatekeeper dashboard`, DESIGN section 11)."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    auth: Literal["auto", "kubernetes", "tokens"] = Field(
        "auto",
        description="Who may read: TokenReview + SubjectAccessReview in a cluster, a tokens "
        "file outside one; `auto` picks `tokens` when tokensFile is set.",
    )
    tokens_file: Path | None = Field(
        None, description="YAML list of {user, groups, tokenSha256} for `tokens` auth."
    )
    session_minutes: int = Field(
        480, ge=1, description="How long the page's sign-in cookie lasts, in minutes."
    )
    reports_dir: Path | None = Field(
        None, description="Where made reports are kept; beside the database when null."
    )
    shutdown_timeout: Seconds = Field(
        25.0,
        gt=0,
        description="After SIGTERM, how long responses under way (streamed exports, reports) "
        "may take to finish; those still running then are cut, their connections closed.",
    )


_DAY = 86400.0


class WebhookCertsSettings(_Section):
    """The webhook's serving certificate made and renewed by the gatekeeper itself, where
    cert-manager is not used (`gatekeeper webhook certs`, docs/chart.md). The certificate and
    key are written to `server.tlsCertFile` and `server.tlsKeyFile`."""

    namespace: str = Field(min_length=1, description="Namespace of the Secret and the Service.")
    secret_name: str = Field(
        min_length=1, description="Secret that keeps the CA and the serving certificate."
    )
    service: str = Field(
        min_length=1,
        description="The webhook's Service: the certificate names SERVICE.NAMESPACE.svc and "
        "SERVICE.NAMESPACE.svc.cluster.local.",
    )
    webhook_configuration: str | None = Field(
        None,
        description="ValidatingWebhookConfiguration whose webhooks calling that Service get the "
        "CA bundle; none: the caBundle is left alone.",
    )
    ca_validity: Seconds = Field(10 * 365 * _DAY, gt=0, description="Lifetime of the CA.")
    cert_validity: Seconds = Field(
        365 * _DAY, gt=0, description="Lifetime of the serving certificate."
    )
    renew_before: Seconds = Field(
        90 * _DAY, gt=0, description="Renew a certificate this long before it expires."
    )
    check_interval: Seconds = Field(
        60.0, gt=0, description="Seconds between checks of the Secret and the caBundle."
    )

    @model_validator(mode="after")
    def _renewal_fits(self) -> WebhookCertsSettings:
        if self.renew_before >= self.cert_validity:
            raise ValueError("renewBefore must be shorter than certValidity")
        if self.ca_validity <= self.cert_validity + self.renew_before:
            raise ValueError("caValidity must be longer than certValidity plus renewBefore")
        return self


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


class Settings(BaseSettings):
    """Every setting of the gatekeeper, validated once and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="GATEKEEPER_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    policies: PolicySettings = Field(default_factory=PolicySettings)
    sources: list[SourceSettings] = Field(default_factory=list)
    reconciler: ReconcilerSettings = Field(default_factory=ReconcilerSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    webhook_certs: WebhookCertsSettings | None = None
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    policy_reports: PolicyReportSettings = Field(default_factory=PolicyReportSettings)
    receivers: ReceiverSettings = Field(default_factory=ReceiverSettings)
    config_dir: Path = Field(
        default_factory=Path.cwd,
        validation_alias=AliasChoices("_config_dir"),
        exclude=True,
        description="Folder that relative paths are resolved against.",
    )

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceSettings]) -> list[SourceSettings]:
        names = [source.name for source in sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        return sources

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file, as DESIGN section 4 promises.
        return (_EnvOverrides(settings_cls), init_settings)

    def resolve(self, path: Path | None) -> Path | None:
        """A path made absolute against the config file's folder.

        `load_settings` has done this for every path of the file already; this is for a path
        that did not come from it.
        """
        if path is None:
            return None
        return path if path.is_absolute() else (self.config_dir / path)


class _EnvOverrides(PydanticBaseSettingsSource):
    """GATEKEEPER_<SECTION>__<KEY> variables, mapped onto the file's camelCase keys.

    Segments match a field by name or alias, ignoring case and underscores, so both
    GATEKEEPER_AUDIT__SIGNING_KEY_FILE and GATEKEEPER_AUDIT__SIGNINGKEYFILE work. Values are
    read as YAML, so a list is given whole: GATEKEEPER_POLICIES__PATHS='[a/, b/]'.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in sorted(os.environ.items()):
            upper = name.upper()
            if not upper.startswith("GATEKEEPER_") or upper == CONFIG_ENV:
                continue
            segments = upper.removeprefix("GATEKEEPER_").split("__")
            if len(segments) < 2:
                continue
            path = _map_segments(Settings, segments, name)
            try:
                parsed = yaml.safe_load(value) if value.strip() else value
            except yaml.YAMLError:
                parsed = value
            _set_path(result, path, parsed)
        return result


def _normalise(text: str) -> str:
    return text.replace("_", "").lower()


def _map_segments(model: type[BaseModel], segments: list[str], variable: str) -> list[str]:
    path: list[str] = []
    current: Any = model
    for segment in segments:
        fields = getattr(current, "model_fields", None)
        if not fields:
            raise ConfigError(
                f"environment variable {variable}: {'.'.join(path) or segment.lower()} "
                "cannot be set key by key; give the whole value as YAML"
            )
        for field_name, info in fields.items():
            alias = info.alias or field_name
            if _normalise(segment) in (_normalise(field_name), _normalise(alias)):
                path.append(alias)
                current = _inner_model(info.annotation)
                break
        else:
            raise ConfigError(f"environment variable {variable}: unknown key {segment.lower()}")
    return path


def _inner_model(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = getattr(candidate, "__args__", ())
        for arg in inner:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _format_errors(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if p not in ("function-after[_unique_source_names()]",))
        where = _format_location(loc) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def load_settings(config_file: Path | str | None = None) -> Settings:
    """Build the settings from a YAML file (or $GATEKEEPER_CONFIG) and the environment."""
    path_text = str(config_file) if config_file is not None else os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    origin = "the environment"
    config_dir = Path.cwd()
    if path_text:
        path = Path(path_text)
        origin = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        data = raw
        config_dir = path.resolve().parent
    try:
        settings = Settings(**data, _config_dir=config_dir)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from exc
    return _with_absolute_paths(settings) if path_text else settings


def _with_absolute_paths(settings: Settings) -> Settings:
    """The settings with every relative path made absolute against the config file's folder.

    Done once, here, so that no caller joins paths again. Without a file, paths stay as given:
    relative to the working directory, which is what they would be resolved against.
    """
    base = settings.config_dir

    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    def optional(path: Path | None) -> Path | None:
        return None if path is None else absolute(path)

    audit, server, dashboard = settings.audit, settings.server, settings.dashboard
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"url": _absolute_sqlite_url(settings.database.url, base)}
            ),
            "audit": audit.model_copy(
                update={
                    "signing_key_file": optional(audit.signing_key_file),
                    "public_key_file": optional(audit.public_key_file),
                    "secret_digest_key_file": optional(audit.secret_digest_key_file),
                    "witness": None
                    if audit.witness is None
                    else audit.witness.model_copy(
                        update={
                            "folder": optional(audit.witness.folder),
                            "git": optional(audit.witness.git),
                        }
                    ),
                }
            ),
            "kubernetes": settings.kubernetes.model_copy(
                update={"kubeconfig": optional(settings.kubernetes.kubeconfig)}
            ),
            "policies": settings.policies.with_base(base),
            "sources": [
                source.model_copy(
                    update={
                        "trust": absolute(source.trust),
                        "credentials": _absolute_credentials(source.credentials, absolute),
                        "repo": source.repo
                        if _is_remote(source.repo)
                        else str(absolute(Path(source.repo))),
                    }
                )
                for source in settings.sources
            ],
            "server": server.model_copy(
                update={
                    "tls_cert_file": optional(server.tls_cert_file),
                    "tls_key_file": optional(server.tls_key_file),
                    "client_ca_file": optional(server.client_ca_file),
                }
            ),
            "dashboard": dashboard.model_copy(
                update={
                    "tls_cert_file": optional(dashboard.tls_cert_file),
                    "tls_key_file": optional(dashboard.tls_key_file),
                    "tokens_file": optional(dashboard.tokens_file),
                    "reports_dir": optional(dashboard.reports_dir),
                }
            ),
            "receivers": _absolute_receivers(settings.receivers, absolute),
        }
    )


def _absolute_credentials(
    credentials: SourceCredentials | None, absolute: Callable[[Path], Path]
) -> SourceCredentials | None:
    if credentials is None:
        return None

    def optional(path: Path | None) -> Path | None:
        return None if path is None else absolute(path)

    https, ssh = credentials.https, credentials.ssh
    return credentials.model_copy(
        update={
            "https": None
            if https is None
            else https.model_copy(
                update={
                    "username_file": optional(https.username_file),
                    "password_file": optional(https.password_file),
                    "token_file": optional(https.token_file),
                }
            ),
            "ssh": None
            if ssh is None
            else ssh.model_copy(
                update={
                    "private_key_file": absolute(ssh.private_key_file),
                    "known_hosts_file": absolute(ssh.known_hosts_file),
                }
            ),
        }
    )


def _absolute_receivers(
    receivers: ReceiverSettings, absolute: Callable[[Path], Path]
) -> ReceiverSettings:
    def optional(path: Path | None) -> Path | None:
        return None if path is None else absolute(path)

    return receivers.model_copy(
        update={
            "tls_cert_file": optional(receivers.tls_cert_file),
            "tls_key_file": optional(receivers.tls_key_file),
            "hooks": [
                hook.model_copy(update={"secret_file": optional(hook.secret_file)})
                for hook in receivers.hooks
            ],
        }
    )


def _is_remote(repo: str) -> bool:
    """A Git URL (`https://...`, `ssh://...`, `git@host:path`) rather than a local path."""
    return "://" in repo or repo.startswith("git@")


_SQLITE_FILE = re.compile(r"^(?P<scheme>sqlite(?:\+\w+)?:///)(?P<path>[^?]+)(?P<query>\?.*)?$")


def _absolute_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL whose relative file is made absolute against `base`; any other as given."""
    match = _SQLITE_FILE.match(url)
    if match is None or match["path"] == ":memory:" or Path(match["path"]).is_absolute():
        return url
    return f"{match['scheme']}{base / match['path']}{match['query'] or ''}"
