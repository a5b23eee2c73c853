"""Where kube-apiserver and etcd come from: `$KUBEBUILDER_ASSETS`, then `PATH`, then the cache."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

APP_NAME = "gitops-gatekeeper"
CACHE_ENV = "GATEKEEPER_DEV_CLUSTER_CACHE"
KUBE_APISERVER = "kube-apiserver"
ETCD = "etcd"
BINARY_NAMES = (KUBE_APISERVER, ETCD)
KUBELET = "kubelet"
KUBE_CONTROLLER_MANAGER = "kube-controller-manager"
KUBE_SCHEDULER = "kube-scheduler"
KUBE_PROXY = "kube-proxy"
# What a plane with a node runs besides etcd and kube-apiserver, built from the same source.
NODE_BINARY_NAMES = (KUBELET, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBE_PROXY)

Origin = Literal["KUBEBUILDER_ASSETS", "PATH", "cache"]
_VERSION_DIR = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class FoundBinary:
    """One binary found on this machine, and which of the three places it came from."""

    name: str
    path: Path
    origin: Origin


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """The folder that holds built binaries, one sub-folder per Kubernetes version."""
    env = os.environ if env is None else env
    override = env.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "kube"


def cached_version_dirs(root: Path) -> list[Path]:
    """Version folders of the cache (`1.20.2/`...), newest first."""
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and _VERSION_DIR.match(p.name)]
    return sorted(dirs, key=lambda p: tuple(int(part) for part in p.name.split(".")), reverse=True)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(name: str, *, env: Mapping[str, str], cache: Path) -> FoundBinary | None:
    """Look `name` up in `$KUBEBUILDER_ASSETS`, then `PATH`, then the cache's newest version."""
    assets = env.get("KUBEBUILDER_ASSETS")
    if assets and _executable(Path(assets) / name):
        return FoundBinary(name, Path(assets) / name, "KUBEBUILDER_ASSETS")
    on_path = shutil.which(name, path=env.get("PATH", os.defpath))
    if on_path:
        return FoundBinary(name, Path(on_path), "PATH")
    for version_dir in cached_version_dirs(cache):
        if _executable(version_dir / name):
            return FoundBinary(name, version_dir / name, "cache")
    return None


def find_binaries(
    *,
    env: Mapping[str, str] | None = None,
    cache: Path | None = None,
    names: tuple[str, ...] = BINARY_NAMES,
) -> dict[str, FoundBinary | None]:
    """The binaries the control plane needs (by default etcd and kube-apiserver), each
    `None` when it is nowhere to be found."""
    env = os.environ if env is None else env
    cache = cache_root(env) if cache is None else cache
    return {name: find_binary(name, env=env, cache=cache) for name in names}
