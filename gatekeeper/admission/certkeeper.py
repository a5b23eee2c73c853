"""Keeps the webhook's own certificates: one Secret, the files it serves from, the caBundle.

Without cert-manager, every webhook replica runs this beside the server (`gatekeeper webhook
certs`): once before the server starts, so that it has a certificate to load, and then at
every interval. Each round reads the Secret, makes it or renews what `certs.assess` says is
due, writes the certificate and key to the files the server reloads (`tls.CertificateReloader`
picks up the change), and sets the CA bundle on the ValidatingWebhookConfiguration's webhooks
that call the Service.

Replicas do not fight: the Secret is created or replaced only with the `resourceVersion` that
was read (a create fails when it exists), so of several replicas that find the same thing
due, one writes and the others get a conflict, read the Secret again, find its new
certificate good, and use it. All of them then serve the one certificate the bundle names.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gatekeeper.admission import certs
from gatekeeper.admission.certs import CertificateSet, Lifetimes, Need
from gatekeeper.admission.errors import CertificateError, ForeignSecret
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Conflict, KubeError
from gatekeeper.kube.objects import ResourceType

log = logging.getLogger(__name__)

SECRETS: Final = ResourceType(
    group="", version="v1", kind="Secret", plural="secrets", namespaced=True
)
WEBHOOK_CONFIGURATIONS: Final = ResourceType(
    group="admissionregistration.k8s.io",
    version="v1",
    kind="ValidatingWebhookConfiguration",
    plural="validatingwebhookconfigurations",
    namespaced=False,
)
# On the Secret: made by the gatekeeper for this Service. A Secret without it is not replaced.
MARK: Final = "gatekeeper.dev/webhook-certs"
_ATTEMPTS: Final = 5
# While the webhook configuration is missing (an install creates it after the Deployments),
# rounds come this often instead of every interval, so that the caBundle is set within
# seconds of it appearing rather than at the next interval.
_WAITING_INTERVAL: Final = 2.0
_KEYS: Final = {"ca_bundle": "ca.crt", "ca_key": "ca.key", "cert": "tls.crt", "key": "tls.key"}


@dataclass(frozen=True)
class Target:
    """Where the certificates are kept and whom they are for."""

    namespace: str
    secret_name: str
    service: str
    lifetimes: Lifetimes
    webhook_configuration: str | None = None

    @property
    def dns_names(self) -> list[str]:
        """The names kube-apiserver calls the Service by."""
        base = f"{self.service}.{self.namespace}.svc"
        return [base, f"{base}.cluster.local"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertKeeper:
    """One replica's view of the shared certificates."""

    def __init__(
        self, kube: KubeClient, target: Target, *, clock: Callable[[], dt.datetime] = _now
    ) -> None:
        self._kube = kube
        self._target = target
        self._clock = clock
        # True after a round that found the configuration to publish to.
        self.configuration_found = False

    # -- the Secret ----------------------------------------------------------------------------

    def ensure(self) -> CertificateSet:
        """The certificates in the Secret, made or renewed first when that is due."""
        target = self._target
        for _ in range(_ATTEMPTS):
            live = self._kube.get(SECRETS, target.secret_name, target.namespace)
            now = self._clock()
            if live is None:
                made = certs.make(target.dns_names, target.lifetimes, now)
                try:
                    self._kube.create(SECRETS, self._secret(made))
                except Conflict:
                    continue  # another replica made it first: use theirs
                log.info("made the webhook's CA and certificate in Secret %s", self._where())
                return made
            self._check_ours(live)
            current = _read(live)
            need = certs.assess(current, target.dns_names, target.lifetimes, now)
            if need is Need.NOTHING:
                return current
            if need is Need.NEW_AUTHORITY:
                made = certs.make(
                    target.dns_names, target.lifetimes, now, previous=_loadable(current)
                )
            else:
                made = certs.renew(current, target.dns_names, target.lifetimes, now)
            body = self._secret(made)
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            try:
                self._kube.replace(SECRETS, body)
            except Conflict:
                continue  # changed meanwhile, most likely renewed by another replica
            what = "CA and certificate" if need is Need.NEW_AUTHORITY else "certificate"
            log.info("renewed the webhook's %s in Secret %s", what, self._where())
            return made
        raise CertificateError(
            f"Secret {self._where()} changed under every one of {_ATTEMPTS} attempts to "
            "update it; is something else writing it?"
        )

    def _where(self) -> str:
        return f"{self._target.namespace}/{self._target.secret_name}"

    def _check_ours(self, live: dict[str, Any]) -> None:
        labels = (live.get("metadata") or {}).get("labels") or {}
        if labels.get(MARK) != self._target.service:
            raise ForeignSecret(
                f"Secret {self._where()} exists but was not made by the gatekeeper for Service "
                f"{self._target.service} (it lacks the label {MARK}={self._target.service}); it "
                "is left as it is. Delete it to have the webhook make its own certificate, or "
                "give the CA of the certificate it holds (webhook.tls.caBundle)"
            )

    def _secret(self, made: CertificateSet) -> dict[str, Any]:
        data = {
            key: base64.b64encode(getattr(made, field)).decode() for field, key in _KEYS.items()
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": self._target.secret_name,
                "namespace": self._target.namespace,
                "labels": {MARK: self._target.service},
            },
            "data": data,
        }

    # -- the caBundle --------------------------------------------------------------------------

    def publish(self, made: CertificateSet) -> bool:
        """Set the CA bundle on the webhooks that call the Service; True when it changed.

        False, with a warning, while the configuration does not exist (at install the webhook's
        Pods may start before it is created): the next round tries again.
        """
        name = self._target.webhook_configuration
        if name is None:
            return False
        encoded = base64.b64encode(made.ca_bundle).decode()
        for _ in range(_ATTEMPTS):
            live = self._kube.get(WEBHOOK_CONFIGURATIONS, name)
            self.configuration_found = live is not None
            if live is None:
                log.warning("ValidatingWebhookConfiguration %s does not exist (yet)", name)
                return False
            calling = [hook for hook in live.get("webhooks") or [] if self._calls_us(hook)]
            if not calling:
                log.warning(
                    "no webhook of ValidatingWebhookConfiguration %s calls Service %s/%s",
                    name,
                    self._target.namespace,
                    self._target.service,
                )
                return False
            stale = [hook for hook in calling if hook["clientConfig"].get("caBundle") != encoded]
            if not stale:
                return False
            for hook in stale:
                hook["clientConfig"]["caBundle"] = encoded
            try:
                self._kube.replace(WEBHOOK_CONFIGURATIONS, live)
            except Conflict:
                continue
            log.info("set the CA bundle of ValidatingWebhookConfiguration %s", name)
            return True
        raise CertificateError(
            f"ValidatingWebhookConfiguration {name} changed under every one of {_ATTEMPTS} "
            "attempts to set its caBundle"
        )

    def _calls_us(self, hook: dict[str, Any]) -> bool:
        service = (hook.get("clientConfig") or {}).get("service") or {}
        return bool(
            service.get("name") == self._target.service
            and service.get("namespace") == self._target.namespace
        )

    # -- rounds --------------------------------------------------------------------------------

    def round(self, cert_file: Path, key_file: Path) -> CertificateSet:
        """One round: the Secret, the files, the caBundle."""
        made = self.ensure()
        if write_files(made, cert_file, key_file):
            log.info("wrote %s and %s (valid until %s)", cert_file, key_file, _until(made))
        self.publish(made)
        self.adopt()
        return made

    # -- ownership -----------------------------------------------------------------------------

    def adopt(self) -> bool:
        """Make the webhook configuration the Secret's owner; True when it changed.

        The Secret is the gatekeeper's own making, not one of the chart's objects, so an
        uninstall would leave it (and its CA key) behind; owned by the configuration, it is
        removed by Kubernetes' garbage collector with it. Nothing happens while either is
        missing (at install the Secret is made before the configuration exists).
        """
        name = self._target.webhook_configuration
        if name is None:
            return False
        for _ in range(_ATTEMPTS):
            configuration = self._kube.get(WEBHOOK_CONFIGURATIONS, name)
            live = self._kube.get(SECRETS, self._target.secret_name, self._target.namespace)
            if configuration is None or live is None:
                return False
            self._check_ours(live)
            owner = _owner_reference(configuration)
            owners = list(live["metadata"].get("ownerReferences") or [])
            if any(o.get("uid") == owner["uid"] for o in owners):
                return False
            # A configuration of the same name made again has a new uid: the old one goes.
            owners = [o for o in owners if not _same_object(o, owner)] + [owner]
            live["metadata"]["ownerReferences"] = owners
            try:
                self._kube.replace(SECRETS, live)
            except Conflict:
                continue
            log.info(
                "Secret %s now belongs to ValidatingWebhookConfiguration %s", self._where(), name
            )
            return True
        raise CertificateError(
            f"Secret {self._where()} changed under every one of {_ATTEMPTS} attempts to set "
            "its owner"
        )

    def run(
        self, cert_file: Path, key_file: Path, *, interval: float, stop: threading.Event
    ) -> None:
        """A round at every interval until `stop` is set (every few seconds while the webhook
        configuration does not exist). A round that fails is logged and tried again at the
        next interval; the files keep what they had."""
        while not stop.is_set():
            try:
                self.round(cert_file, key_file)
            except (KubeError, CertificateError, OSError) as exc:
                log.warning("webhook certificates not checked: %s", exc)
            waiting = self._target.webhook_configuration and not self.configuration_found
            stop.wait(min(interval, _WAITING_INTERVAL) if waiting else interval)


def _owner_reference(configuration: dict[str, Any]) -> dict[str, Any]:
    metadata = configuration["metadata"]
    return {
        "apiVersion": WEBHOOK_CONFIGURATIONS.api_version,
        "kind": WEBHOOK_CONFIGURATIONS.kind,
        "name": metadata["name"],
        "uid": metadata["uid"],
    }


def _same_object(reference: dict[str, Any], other: dict[str, Any]) -> bool:
    keys = ("apiVersion", "kind", "name")
    return all(reference.get(key) == other[key] for key in keys)


def _until(made: CertificateSet) -> str:
    return certs.expiry(made.cert).isoformat()


def _read(live: dict[str, Any]) -> CertificateSet:
    """The Secret's certificates; missing or undecodable keys read as empty, which
    `certs.assess` finds in need of a new CA."""
    data = live.get("data") or {}
    values: dict[str, bytes] = {}
    for field, key in _KEYS.items():
        try:
            values[field] = base64.b64decode(data.get(key) or "", validate=True)
        except ValueError:
            values[field] = b""
    return CertificateSet(**values)


def _loadable(current: CertificateSet) -> CertificateSet | None:
    """`current` when its CA bundle loads (its CAs may then stay trusted), else None."""
    try:
        certs.expiry(current.ca_bundle)
    except CertificateError:
        return None
    return current


def write_files(made: CertificateSet, cert_file: Path, key_file: Path) -> bool:
    """Write the certificate and key where the server reads them, each replaced whole (a
    rename), the key first; False when both already hold these."""
    wanted = [(key_file, made.key), (cert_file, made.cert)]
    if all(_holds(path, content) for path, content in wanted):
        return False
    for path, content in wanted:
        _replace(path, content)
    return True


def _holds(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except OSError:
        return False


def _replace(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
