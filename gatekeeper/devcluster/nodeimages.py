"""Images for the node without a registry: the pause image, and loading archives into containerd.

The pause image (every Pod's sandbox) is Kubernetes' own `build/pause/linux/pause.c`, kept in
the cache by the build, compiled with `gcc -static` and wrapped in a one-layer docker archive
written here; `ctr -n k8s.io images import` loads it and any other archive (`make image`).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from gatekeeper.devcluster import DevClusterError
from gatekeeper.devcluster.nodeconfig import PAUSE_IMAGE

PAUSE_PACKAGES = ("gcc", "libc6-dev")
CRI_NAMESPACE = "k8s.io"


def pause_binary(version_dir: Path) -> Path:
    """Compile `pause.c` of that cached version (once) into a static binary beside it."""
    binary = version_dir / "pause"
    if binary.is_file():
        return binary
    source = version_dir / "pause.c"
    if not source.is_file():
        raise DevClusterError(
            f"{source} is missing: the node binaries in {version_dir} were built without it; "
            "delete the kubelet there and run `up --with-nodes` again to rebuild"
        )
    partial = version_dir / ".pause.partial"
    result = subprocess.run(
        ["gcc", "-Os", "-Wall", "-static", "-DVERSION=v3.4", "-o", str(partial), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevClusterError(f"compiling {source} failed:\n{result.stderr}")
    subprocess.run(["strip", str(partial)], check=False)
    partial.replace(binary)
    return binary


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def docker_archive(binary: Path, reference: str, archive: Path) -> Path:
    """A docker-archive with one layer holding `/pause`, whose entrypoint it is."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        _tar_member(layer, "pause", binary.read_bytes(), 0o755)
    layer_bytes = layer_buffer.getvalue()
    layer_digest = hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "gcc -static build/pause/linux/pause.c"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [
        {
            "Config": config_name,
            "RepoTags": [reference],
            "Layers": [f"{layer_digest}/layer.tar"],
        }
    ]
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_member(tar, f"{layer_digest}/layer.tar", layer_bytes)
        _tar_member(tar, config_name, config_bytes)
        _tar_member(tar, "manifest.json", json.dumps(manifest).encode())
    return archive


def import_archive(socket: Path, archive: Path) -> str:
    """Load a docker or OCI archive into the node's containerd (the CRI's namespace)."""
    result = subprocess.run(
        ["ctr", "--address", str(socket), "-n", CRI_NAMESPACE, "images", "import", str(archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevClusterError(f"`ctr images import {archive}` failed: {result.stderr.strip()}")
    return result.stdout.strip()


def image_names(socket: Path) -> list[str]:
    """The images the node's containerd holds for the CRI."""
    result = subprocess.run(
        ["ctr", "--address", str(socket), "-n", CRI_NAMESPACE, "images", "list", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.split()


def load_pause(socket: Path, version_dir: Path, work: Path) -> None:
    """Build (once) and import the pause image the containerd config names."""
    archive = docker_archive(pause_binary(version_dir), PAUSE_IMAGE, work / "pause.tar")
    import_archive(socket, archive)
