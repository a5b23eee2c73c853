"""The demo's folder and cluster: a folder it owns and may wipe, and a plane to talk to."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

from gatekeeper.demo import dashboard
from gatekeeper.demo.errors import DemoFailed
from gatekeeper.devcluster import plane
from gatekeeper.devcluster.identities import IDENTITIES
from gatekeeper.errors import ConfigError

MARKER = ".gatekeeper-demo"
CONFIG_FILE = "gatekeeper.yaml"
DATABASE_FILE = "gatekeeper.db"
CLUSTER_DIR = "cluster"
GNUPG_DIR = "keys/gnupg"


def prepare(directory: Path) -> Path:
    """An empty folder for a new run; refuses a non-empty folder the demo did not make.

    A folder left by an earlier run (kept cluster included) is cleaned: its control plane is
    stopped, its gpg-agent and any dashboard still serving it too, then everything in it is
    removed.
    """
    directory = directory.absolute()
    if directory.exists():
        if not directory.is_dir():
            raise ConfigError(f"{directory} exists and is not a folder")
        if any(directory.iterdir()) and not (directory / MARKER).is_file():
            raise ConfigError(
                f"{directory} is not empty and was not made by `gatekeeper demo`; "
                "give an empty or new folder with --dir"
            )
        if (directory / MARKER).is_file():
            dashboard.stop_leftovers(directory, directory / CONFIG_FILE)
            plane.down(directory / CLUSTER_DIR)
            gnupg = directory / GNUPG_DIR
            if gnupg.is_dir():
                subprocess.run(
                    ["gpgconf", "--kill", "gpg-agent"],
                    env={**os.environ, "GNUPGHOME": str(gnupg)},
                    capture_output=True,
                    check=False,
                )
            shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by `gatekeeper demo`; removed by its next run\n")
    return directory


def finished(directory: Path) -> Path:
    """The folder of an earlier run, to serve its data again; refuses any other folder."""
    directory = directory.absolute()
    needed = (MARKER, CONFIG_FILE, DATABASE_FILE)
    if not all((directory / name).is_file() for name in needed):
        raise ConfigError(
            f"{directory} holds no run of `gatekeeper demo` to show: run the demo first "
            "(or give its folder with --dir)"
        )
    return directory


@dataclass
class ClusterAccess:
    """A kubeconfig per identity (admin, reconciler, alice, breakglass); `owned` planes stop."""

    kubeconfigs: Mapping[str, Path]
    owned_state_dir: Path | None = None
    # The CA of the client certificate the plane's kube-apiserver shows webhooks.
    webhook_client_ca: Path | None = None

    @classmethod
    def start(cls, state_dir: Path, *, progress: Callable[[str], None]) -> ClusterAccess:
        """Start a plane of the demo's own in `state_dir` (building kube-apiserver if needed)."""
        started = plane.up(state_dir, progress=progress)
        return cls(
            {name: started.kubeconfig(name) for name in IDENTITIES},
            state_dir,
            webhook_client_ca=started.webhook_client_ca_file,
        )

    def api(self, user: str) -> client.ApiClient:
        try:
            path = self.kubeconfigs[user]
        except KeyError:
            raise DemoFailed(f"no kubeconfig for user {user!r}") from None
        api: client.ApiClient = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
        return api

    def stop(self) -> None:
        if self.owned_state_dir is not None:
            plane.down(self.owned_state_dir)
