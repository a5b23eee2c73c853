"""Where one local control plane keeps its files: data, keys, kubeconfigs, logs, pid files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from gatekeeper.devcluster.binaries import APP_NAME
from gatekeeper.devcluster.identities import identity

STATE_DIR_ENV = "GATEKEEPER_DEV_CLUSTER_DIR"


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the control plane keeps its data, keys, kubeconfigs, logs and pid files."""
    env = os.environ if env is None else env
    override = env.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_state_dir(APP_NAME)) / "dev-cluster"


@dataclass(frozen=True)
class Layout:
    """The files of one control plane inside its state directory."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def webhook_client_ca(self) -> Path:
        """The CA of kube-apiserver's client certificate for webhooks (their clientCaFile)."""
        return self.pki / "webhook-client-ca.crt"

    @property
    def webhook_client_ca_key(self) -> Path:
        return self.pki / "webhook-client-ca.key"

    @property
    def webhook_client_kubeconfig(self) -> Path:
        """The kubeconfig kube-apiserver calls webhooks with (its client certificate)."""
        return self.root / "webhook-client.kubeconfig"

    @property
    def admission_config(self) -> Path:
        """The AdmissionConfiguration given to `--admission-control-config-file`."""
        return self.root / "admission-config.yaml"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd-data"

    @property
    def cert_dir(self) -> Path:
        return self.root / "apiserver-certs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def token_file(self) -> Path:
        return self.root / "tokens.csv"

    def pid_file(self, component: str) -> Path:
        return self.root / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def kubeconfig(self, user: str) -> Path:
        return self.root / "kubeconfig" / f"{identity(user).name}.yaml"
