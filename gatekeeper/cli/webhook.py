"""`gatekeeper webhook`: what the admission webhook needs in a cluster besides itself."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from gatekeeper.cli.context import console, state
from gatekeeper.errors import ConfigError

if TYPE_CHECKING:
    from types import FrameType

    from gatekeeper.admission.certkeeper import CertKeeper
    from gatekeeper.kube.client import KubeClient
    from gatekeeper.settings import Settings

app = typer.Typer(help="The admission webhook's certificates and namespaces.", no_args_is_help=True)


def _kube(settings: Settings) -> KubeClient:
    from gatekeeper.kube.client import KubeClient

    return KubeClient.from_kubeconfig(settings.kubernetes.kubeconfig, settings.kubernetes.context)


def _keeper(settings: Settings, kube: KubeClient) -> CertKeeper:
    import datetime as dt

    from gatekeeper.admission.certkeeper import CertKeeper, Target
    from gatekeeper.admission.certs import Lifetimes

    found = settings.webhook_certs
    if found is None:
        raise ConfigError("webhook certs needs the webhookCerts section of the configuration")
    lifetimes = Lifetimes(
        authority=dt.timedelta(seconds=found.ca_validity),
        certificate=dt.timedelta(seconds=found.cert_validity),
        renew_before=dt.timedelta(seconds=found.renew_before),
    )
    target = Target(
        namespace=found.namespace,
        secret_name=found.secret_name,
        service=found.service,
        lifetimes=lifetimes,
        webhook_configuration=found.webhook_configuration,
    )
    return CertKeeper(kube, target)


@app.command()
def certs(
    ctx: typer.Context,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Keep going: check again every webhookCerts.checkInterval until stopped.",
        ),
    ] = False,
) -> None:
    """Make or renew the webhook's CA and serving certificate (in the Secret of
    webhookCerts), write them to server.tlsCertFile and server.tlsKeyFile, and set the CA on
    the ValidatingWebhookConfiguration; for clusters without cert-manager."""
    import logging

    settings = state(ctx).settings()
    cert_file, key_file = settings.server.tls_cert_file, settings.server.tls_key_file
    if cert_file is None or key_file is None:
        raise ConfigError("webhook certs writes server.tlsCertFile and server.tlsKeyFile: set both")
    cert_file, key_file = settings.resolve(cert_file), settings.resolve(key_file)
    assert cert_file is not None and key_file is not None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    kube = _kube(settings)
    try:
        keeper = _keeper(settings, kube)
        if not watch:
            from gatekeeper.admission.certs import expiry

            made = keeper.round(cert_file, key_file)
            console().print(f"{cert_file}: valid until {expiry(made.cert).isoformat()}")
            return
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        assert settings.webhook_certs is not None
        keeper.run(cert_file, key_file, interval=settings.webhook_certs.check_interval, stop=stop)
    finally:
        kube.close()


@app.command("exclude-namespaces")
def exclude_namespaces(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Namespaces the webhook leaves out.")],
) -> None:
    """Label each namespace kubernetes.io/metadata.name=<its name>, as Kubernetes 1.21 and
    later do themselves, so that the webhook's namespaceSelector leaves it out on older
    versions too."""
    from gatekeeper.admission.exclusion import NAME_LABEL, label_namespaces

    settings = state(ctx).settings()
    kube = _kube(settings)
    try:
        changed = label_namespaces(kube, names)
    finally:
        kube.close()
    for name in names:
        state_text = "labelled" if name in changed else "already labelled"
        console().print(f"namespace {name}: {state_text} {NAME_LABEL}={name}")
