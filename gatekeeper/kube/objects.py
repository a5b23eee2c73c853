"""Names of Kubernetes objects and types: apiVersion parts, object keys, where a kind is served."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def split_api_version(api_version: str) -> tuple[str, str]:
    """`("apps", "v1")` for `apps/v1`, `("", "v1")` for the core group's `v1`."""
    group, _, version = api_version.rpartition("/")
    return group, version


def api_group(api_version: str) -> str:
    """The group of an apiVersion; "" for the core group."""
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class ObjectKey:
    """An object's identity across API versions; namespace is "" for cluster-wide objects."""

    api_group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, manifest: Mapping[str, Any], default_namespace: str = "") -> ObjectKey:
        metadata = manifest.get("metadata") or {}
        return cls(
            api_group=api_group(str(manifest.get("apiVersion", ""))),
            kind=str(manifest.get("kind", "")),
            namespace=str(metadata.get("namespace") or default_namespace),
            name=str(metadata.get("name", "")),
        )

    def __str__(self) -> str:
        group = f"{self.api_group}/" if self.api_group else ""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{group}{self.kind}/{where}{self.name}"

    @classmethod
    def parse(cls, text: str) -> ObjectKey | None:
        """The key `str(key)` was made from; None for text that names no object.

        Kinds start with a capital letter and groups never do, which tells `Kind/ns/name`
        from `group/Kind/name`; names and namespaces never hold a slash.
        """
        parts = text.split("/")
        if not parts or not all(parts):
            return None
        group = ""
        if not parts[0][:1].isupper():
            group, parts = parts[0], parts[1:]
        if not 2 <= len(parts) <= 3 or not parts[0][:1].isupper():
            return None
        namespace = parts[1] if len(parts) == 3 else ""
        return cls(api_group=group, kind=parts[0], namespace=namespace, name=parts[-1])


@dataclass(frozen=True)
class ResourceType:
    """Where the API serves a kind: group, version, plural resource name, scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{_quote(namespace)}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{_quote(name)}"


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")
