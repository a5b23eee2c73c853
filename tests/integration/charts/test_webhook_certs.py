"""The webhook's own certificates without cert-manager, on a real kube-apiserver: the Secret is
made, the caBundle set, a certificate near its end replaced (a CA near its end too, the old
one staying trusted meanwhile), replicas racing converge on one certificate, and a Secret the
gatekeeper did not make is left alone."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.admission import certs
from gatekeeper.admission.certkeeper import (
    MARK,
    SECRETS,
    WEBHOOK_CONFIGURATIONS,
    CertKeeper,
    Target,
)
from gatekeeper.admission.certs import CertificateSet, Lifetimes
from gatekeeper.admission.errors import ForeignSecret
from gatekeeper.admission.tls import CertificateReloader, server_context
from gatekeeper.kube.client import KubeClient
from tests.fixtures.cluster import Cluster, wait_for

pytestmark = pytest.mark.cluster

_COMMAND = (sys.executable, "-m", "gatekeeper.cli")
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
LIFETIMES = Lifetimes(authority=30 * DAY, certificate=DAY, renew_before=12 * HOUR)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def kube(admin_api: Any) -> KubeClient:
    return KubeClient(admin_api)


def _configuration(name: str, namespace: str, services: dict[str, str]) -> dict[str, Any]:
    """A webhook configuration `name` whose webhooks (name: Service in `namespace`) reach no
    other test: nothing carries the label their namespaceSelector asks for."""

    def hook(hook_name: str, service: str) -> dict[str, Any]:
        return {
            "name": hook_name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "clientConfig": {
                "service": {"name": service, "namespace": namespace, "path": "/validate"}
            },
            "namespaceSelector": {"matchLabels": {f"{name}-never": "x"}},
            "rules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE"],
                    "resources": ["configmaps"],
                }
            ],
        }

    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook(hook_name, service) for hook_name, service in services.items()],
    }


def _target(namespace: str, configuration: str) -> Target:
    return Target(
        namespace=namespace,
        secret_name="gk-webhook-tls",
        service="gk-webhook",
        lifetimes=LIFETIMES,
        webhook_configuration=configuration,
    )


@pytest.fixture
def target(namespace: str, kube: KubeClient) -> Iterator[Target]:
    """Certificates for Service `gk-webhook` in the test namespace, and a webhook
    configuration of this test's own that calls it (and a second webhook that does not)."""
    name = f"certs-{secrets.token_hex(4)}"
    services = {"validate.gatekeeper.dev": "gk-webhook", "other.example.dev": "other"}
    body = _configuration(name, namespace, services)
    kube.create(WEBHOOK_CONFIGURATIONS, body)
    try:
        yield _target(namespace, name)
    finally:
        kube.delete(WEBHOOK_CONFIGURATIONS, name)


def _bundle(kube: KubeClient, target: Target) -> dict[str, str | None]:
    assert target.webhook_configuration is not None
    live = kube.get(WEBHOOK_CONFIGURATIONS, target.webhook_configuration)
    return {hook["name"]: hook["clientConfig"].get("caBundle") for hook in live["webhooks"]}


def _secret(kube: KubeClient, target: Target) -> dict[str, Any]:
    secret: dict[str, Any] = kube.get(SECRETS, target.secret_name, target.namespace)
    return secret


def _handshake(cert_file: Path, key_file: Path, ca_bundle_b64: str, host: str) -> bytes:
    """A real TLS handshake with a server serving the files, by a client that trusts only the
    configuration's caBundle and checks the name kube-apiserver calls; the server's
    certificate (DER)."""
    server_side = server_context(cert_file, key_file, None)
    client_side = ssl.create_default_context(cadata=base64.b64decode(ca_bundle_b64).decode())
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    failures: list[BaseException] = []

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server_side.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError) as exc:
            failures.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_side.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"x")
    finally:
        thread.join(5)
        listener.close()
    assert der is not None and not failures
    return der


def test_the_first_round_makes_the_secret_writes_the_files_and_sets_the_ca_bundle(
    kube: KubeClient, target: Target, tmp_path: Path
) -> None:
    cert_file, key_file = tmp_path / "tls" / "tls.crt", tmp_path / "tls" / "tls.key"
    made = CertKeeper(kube, target).round(cert_file, key_file)

    secret = _secret(kube, target)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"] == {MARK: "gk-webhook"}
    assert base64.b64decode(secret["data"]["tls.crt"]) == made.cert == cert_file.read_bytes()
    assert base64.b64decode(secret["data"]["tls.key"]) == made.key == key_file.read_bytes()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    bundles = _bundle(kube, target)
    # Only the webhook that calls this Service gets the CA.
    assert bundles["other.example.dev"] is None
    ca_bundle = bundles["validate.gatekeeper.dev"]
    assert ca_bundle is not None
    assert base64.b64decode(ca_bundle) == made.ca_bundle
    for host in target.dns_names:
        _handshake(cert_file, key_file, ca_bundle, host)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(cert_file, key_file, ca_bundle, "someone-else.gk.svc")

    # Another round, another replica: nothing is due, nothing is written.
    version = secret["metadata"]["resourceVersion"]
    again = CertKeeper(kube, target).round(tmp_path / "b" / "tls.crt", tmp_path / "b" / "tls.key")
    assert again == made
    assert _secret(kube, target)["metadata"]["resourceVersion"] == version


def test_a_certificate_near_its_end_is_replaced_under_the_same_ca(
    kube: KubeClient, target: Target, tmp_path: Path
) -> None:
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    # Made 13 hours ago with a day's validity: 11 hours left, renewal is due at 12.
    old = CertKeeper(kube, target, clock=lambda: _now() - 13 * HOUR).round(cert_file, key_file)
    reloader = CertificateReloader(server_context(cert_file, key_file, None), cert_file, key_file)
    bundle_before = _bundle(kube, target)["validate.gatekeeper.dev"]

    new = CertKeeper(kube, target).round(cert_file, key_file)

    assert new.cert != old.cert and new.key != old.key
    assert certs.expiry(new.cert) - _now() > 23 * HOUR
    assert new.ca_bundle == old.ca_bundle and new.ca_key == old.ca_key
    assert base64.b64decode(_secret(kube, target)["data"]["tls.crt"]) == new.cert
    assert cert_file.read_bytes() == new.cert
    # The caBundle stays as it was, and the running server switches to the new files.
    assert _bundle(kube, target)["validate.gatekeeper.dev"] == bundle_before
    assert reloader.check()
    assert bundle_before is not None
    served = _handshake(cert_file, key_file, bundle_before, target.dns_names[0])
    assert served == ssl.PEM_cert_to_DER_cert(new.cert.decode())


def test_a_ca_near_its_end_is_replaced_and_the_old_one_stays_trusted_meanwhile(
    kube: KubeClient, target: Target, tmp_path: Path
) -> None:
    old_files = (tmp_path / "old.crt", tmp_path / "old.key")
    # A CA made 13 hours ago for two days: 35 hours left, less than a day's certificate and
    # its 12 hours of renewal. Its certificate has 11 hours left.
    short = Lifetimes(authority=2 * DAY, certificate=DAY, renew_before=12 * HOUR)
    first = dataclasses.replace(target, lifetimes=short)
    old = CertKeeper(kube, first, clock=lambda: _now() - 13 * HOUR).round(*old_files)
    new_files = (tmp_path / "new.crt", tmp_path / "new.key")

    new = CertKeeper(kube, target).round(*new_files)

    assert new.ca_key != old.ca_key
    assert new.ca_bundle.endswith(old.ca_bundle) and new.ca_bundle != old.ca_bundle
    bundle = _bundle(kube, target)["validate.gatekeeper.dev"]
    assert bundle is not None and base64.b64decode(bundle) == new.ca_bundle
    # A replica that still serves the old certificate is trusted until it picks up the new.
    _handshake(*old_files, bundle, target.dns_names[0])
    _handshake(*new_files, bundle, target.dns_names[0])


def test_replicas_racing_to_make_or_renew_converge_on_one_certificate(
    cluster: Cluster, kube: KubeClient, target: Target
) -> None:
    replicas = 4

    def race(clock: Any) -> list[CertificateSet]:
        barrier = threading.Barrier(replicas)
        results: list[CertificateSet] = []
        errors: list[BaseException] = []

        def replica() -> None:
            # A client each, as each Pod has its own.
            own = KubeClient.from_kubeconfig(cluster.admin_kubeconfig)
            try:
                keeper = CertKeeper(own, target, clock=clock)
                barrier.wait()
                results.append(keeper.ensure())
            except BaseException as exc:
                errors.append(exc)
            finally:
                own.close()

        threads = [threading.Thread(target=replica) for _ in range(replicas)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert len(results) == replicas
        return results

    # Nothing there yet: every replica makes a CA, one creates the Secret, all use it.
    made = race(lambda: _now() - 13 * HOUR)
    assert len({result.cert for result in made}) == 1
    stored = _secret(kube, target)["data"]
    assert base64.b64decode(stored["tls.crt"]) == made[0].cert
    # Now the certificate is due for renewal: one renews, the others take that one.
    renewed = race(_now)
    assert len({result.cert for result in renewed}) == 1
    assert renewed[0].cert != made[0].cert
    assert renewed[0].ca_bundle == made[0].ca_bundle
    assert base64.b64decode(_secret(kube, target)["data"]["tls.crt"]) == renewed[0].cert


def test_the_secret_comes_to_belong_to_the_webhook_configuration(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    """At install the Secret is made before the configuration exists; a later round makes the
    configuration its owner, so that deleting the configuration (an uninstall) has the
    garbage collector delete the Secret and its CA key (that collector runs only on a plane
    with a node: tests/e2e sees the Secret go)."""
    name = f"certs-{secrets.token_hex(4)}"
    target = _target(namespace, name)
    keeper = CertKeeper(kube, target)
    keeper.round(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert not _secret(kube, target)["metadata"].get("ownerReferences")

    made = kube.create(WEBHOOK_CONFIGURATIONS, _configuration(name, namespace, {}))
    try:
        keeper.round(tmp_path / "tls.crt", tmp_path / "tls.key")
        owners = _secret(kube, target)["metadata"]["ownerReferences"]
        assert owners == [
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "name": name,
                "uid": made["metadata"]["uid"],
            }
        ]
        assert keeper.adopt() is False  # once is enough
    finally:
        kube.delete(WEBHOOK_CONFIGURATIONS, name)


def test_a_secret_the_gatekeeper_did_not_make_is_left_alone(
    kube: KubeClient, target: Target, tmp_path: Path
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": target.secret_name, "namespace": target.namespace},
        "type": "Opaque",
        "data": {"tls.crt": base64.b64encode(b"someone's").decode()},
    }
    kube.create(SECRETS, foreign)
    with pytest.raises(ForeignSecret, match=f"lacks the label {MARK}=gk-webhook"):
        CertKeeper(kube, target).round(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert _secret(kube, target)["data"] == foreign["data"]
    assert not (tmp_path / "tls.crt").exists()


def test_the_command_makes_the_certificates_from_the_configuration(
    cluster: Cluster, kube: KubeClient, target: Target, tmp_path: Path
) -> None:
    config = {
        "kubernetes": {"kubeconfig": str(cluster.admin_kubeconfig)},
        "server": {"tlsCertFile": "tls/tls.crt", "tlsKeyFile": "tls/tls.key"},
        "webhookCerts": {
            "namespace": target.namespace,
            "secretName": target.secret_name,
            "service": target.service,
            "webhookConfiguration": target.webhook_configuration,
        },
    }
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper.cli", "--config", str(path), "webhook", "certs"],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "valid until" in done.stdout
    cert = (tmp_path / "tls" / "tls.crt").read_bytes()
    # The defaults: a year's certificate.
    assert certs.expiry(cert) - _now() > 364 * DAY
    assert base64.b64decode(_secret(kube, target)["data"]["tls.crt"]) == cert
    assert _bundle(kube, target)["validate.gatekeeper.dev"] is not None

    # Pointed at a Secret it did not make, it refuses, and says why (a configuration error).
    other = {**config["webhookCerts"], "secretName": "gk-config-not-ours"}
    kube.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "gk-config-not-ours", "namespace": target.namespace},
        },
    )
    path.write_text(yaml.safe_dump({**config, "webhookCerts": other}))
    refused = subprocess.run(
        [sys.executable, "-m", "gatekeeper.cli", "--config", str(path), "webhook", "certs"],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert "was not made by the gatekeeper" in refused.stderr


def _watching_keeper(
    cluster: Cluster, target: Target, folder: Path, interval: str
) -> subprocess.Popen[str]:
    """`webhook certs --watch` for `target`, as the chart's cert-keeper container runs it,
    with its files under `folder/tls`."""
    config = {
        "kubernetes": {"kubeconfig": str(cluster.admin_kubeconfig)},
        "server": {"tlsCertFile": "tls/tls.crt", "tlsKeyFile": "tls/tls.key"},
        "webhookCerts": {
            "namespace": target.namespace,
            "secretName": target.secret_name,
            "service": target.service,
            "webhookConfiguration": target.webhook_configuration,
            "checkInterval": interval,
        },
    }
    path = folder / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    return subprocess.Popen(
        [*_COMMAND, "--config", str(path), "webhook", "certs", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_the_keeper_beside_the_server_puts_back_a_ca_bundle_and_stops_on_sigterm(
    cluster: Cluster, kube: KubeClient, target: Target, tmp_path: Path
) -> None:
    """`webhook certs --watch`, as the chart's cert-keeper container runs it: a caBundle
    changed by someone else is set again at the next round, and SIGTERM ends it cleanly."""
    keeper = _watching_keeper(cluster, target, tmp_path, "0.5s")
    try:
        wait_for(lambda: _bundle(kube, target)["validate.gatekeeper.dev"], seconds=30, what="ca")
        good = _bundle(kube, target)["validate.gatekeeper.dev"]
        assert target.webhook_configuration is not None
        live = kube.get(WEBHOOK_CONFIGURATIONS, target.webhook_configuration)
        live["webhooks"][0]["clientConfig"]["caBundle"] = base64.b64encode(b"wrong").decode()
        kube.replace(WEBHOOK_CONFIGURATIONS, live)
        wait_for(
            lambda: _bundle(kube, target)["validate.gatekeeper.dev"] == good,
            seconds=15,
            what="the caBundle set again",
        )
        assert (tmp_path / "tls" / "tls.crt").exists()
    finally:
        keeper.send_signal(signal.SIGTERM)
        _, stderr = keeper.communicate(timeout=30)
    assert keeper.returncode == 0, stderr
    assert "set the CA bundle" in stderr


def test_the_keeper_started_before_the_configuration_sets_its_ca_bundle_soon_after(
    cluster: Cluster, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    """Helm creates the webhook configuration after the Deployments, so the keeper usually
    starts first: it looks again every few seconds until the configuration exists, not only
    at its (here hour-long) interval, and makes the configuration the Secret's owner."""
    name = f"certs-{secrets.token_hex(4)}"
    target = _target(namespace, name)
    keeper = _watching_keeper(cluster, target, tmp_path, "1h")
    try:
        wait_for((tmp_path / "tls" / "tls.crt").exists, seconds=30, what="the files")
        services = {"validate.gatekeeper.dev": "gk-webhook"}
        kube.create(WEBHOOK_CONFIGURATIONS, _configuration(name, namespace, services))
        try:
            wait_for(
                lambda: _bundle(kube, target)["validate.gatekeeper.dev"],
                seconds=20,
                what="the caBundle set well before the hour-long interval",
            )
            wait_for(
                lambda: _secret(kube, target)["metadata"].get("ownerReferences"),
                seconds=20,
                what="the Secret owned by the configuration",
            )
        finally:
            kube.delete(WEBHOOK_CONFIGURATIONS, name)
    finally:
        keeper.send_signal(signal.SIGTERM)
        _, stderr = keeper.communicate(timeout=30)
    assert keeper.returncode == 0, stderr
    assert "does not exist (yet)" in stderr
