"""Kubeconfig files for the static-token users of the local control plane."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

CLUSTER_NAME = "gatekeeper-dev"


def kubeconfig_document(*, server: str, ca_pem: bytes, user: str, token: str) -> dict[str, Any]:
    """A kubeconfig with one cluster, one token user and one context, which is current."""
    context = f"{user}@{CLUSTER_NAME}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def write_private(path: Path, content: str | bytes) -> None:
    """Write a file only its owner can read (tokens, keys), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    partial.replace(path)


def write_kubeconfig(path: Path, *, server: str, ca_pem: bytes, user: str, token: str) -> Path:
    """Write the kubeconfig of one user to `path` (mode 0600) and return the path."""
    document = kubeconfig_document(server=server, ca_pem=ca_pem, user=user, token=token)
    write_private(path, yaml.safe_dump(document, sort_keys=False))
    return path
