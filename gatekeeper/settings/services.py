"""Settings of the servers: the admission webhook, its certificates and the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from gatekeeper.settings._base import Seconds, _Section


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
    controller_users: list[str] = Field(
        default_factory=lambda: [
            "system:kube-controller-manager",
            "system:serviceaccount:kube-system:*",
        ],
        description="Users (globs) that are Kubernetes' own controllers: they alone, besides "
        "the reconciler, may write the objects a controller makes from a managed object (a "
        "Deployment's ReplicaSets, which inherit its provenance annotations).",
    )
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
    isolate_policies: bool = Field(
        True,
        description="Evaluate the policies in child processes (the embedded engines), so that "
        "decisionTimeout cuts off a slow policy: in-process, a native engine holds Python's "
        "lock while it evaluates and nothing else of the webhook runs, health checks included.",
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
