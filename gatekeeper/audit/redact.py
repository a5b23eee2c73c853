"""Redaction: secret values are replaced by their keyed digest before they reach the store."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gatekeeper.audit.secret_digest import SecretDigester

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SECRET_FIELDS = ("data", "stringData")
Digest = Callable[[Any], str]


def redact(value: Any, sensitive_paths: Iterable[str] = (), *, digester: SecretDigester) -> Any:
    """A copy of `value` with Secret data and the listed dotted paths replaced by digests,
    keyed by `digester` (`hmac-sha256:<hex>`).

    Any mapping that looks like a Kubernetes Secret (`kind: Secret`), wherever it sits in the
    payload, has each value of `data` and `stringData` digested, and so does its
    last-applied-configuration annotation, which would otherwise carry the data in clear.
    A path such as `request.object.spec.password` or `items.*.token` is replaced whole.
    """
    digest_of = digester.digest
    result = _redact_secrets(value, digest_of) if _holds_secret(value) else value
    for path in sensitive_paths:
        result = _redact_path(result, path.split("."), digest_of)
    return result


def redact_paths(value: Any, sensitive_paths: Iterable[str], *, digester: SecretDigester) -> Any:
    """`value` with only the listed dotted paths replaced by digests (no Secret scan): for
    callers that already know `value` holds no Secret. Unchanged parts are shared."""
    digest_of = digester.digest
    for path in sensitive_paths:
        value = _redact_path(value, path.split("."), digest_of)
    return value


def _is_secret(node: Mapping[str, Any]) -> bool:
    return node.get("kind") == "Secret" and str(node.get("apiVersion", "v1")) == "v1"


def _holds_secret(value: Any) -> bool:
    """A quick scan, so that payloads without Secrets are not copied at all."""
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str or kind is int or kind is bool or node is None:
            continue
        if kind is dict or isinstance(node, Mapping):
            if node.get("kind") == "Secret":
                return True
            stack.extend(node.values())
        elif kind is list or kind is tuple:
            stack.extend(node)
    return False


def _redact_secrets(node: Any, digest_of: Digest) -> Any:
    if isinstance(node, Mapping):
        copied = {key: _redact_secrets(item, digest_of) for key, item in node.items()}
        if _is_secret(node):
            for field in _SECRET_FIELDS:
                if isinstance(node.get(field), Mapping):
                    copied[field] = {k: digest_of(v) for k, v in node[field].items()}
            annotations = (node.get("metadata") or {}).get("annotations")
            if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
                metadata = dict(copied["metadata"])
                metadata["annotations"] = {
                    **annotations,
                    LAST_APPLIED: digest_of(annotations[LAST_APPLIED]),
                }
                copied["metadata"] = metadata
        return copied
    if isinstance(node, list | tuple):
        return [_redact_secrets(item, digest_of) for item in node]
    return node


def _redact_path(node: Any, path: Sequence[str], digest_of: Digest) -> Any:
    if not path:
        return digest_of(node)
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        if head == "*":
            return {key: _redact_path(item, rest, digest_of) for key, item in node.items()}
        if head in node:
            return {**node, head: _redact_path(node[head], rest, digest_of)}
        return node
    if isinstance(node, list):
        if head == "*":
            return [_redact_path(item, rest, digest_of) for item in node]
        if head.isdigit() and int(head) < len(node):
            index = int(head)
            return [*node[:index], _redact_path(node[index], rest, digest_of), *node[index + 1 :]]
    return node


def secret_as_stored(manifest: Mapping[str, Any], digester: SecretDigester) -> Any:
    """A manifest as the ledger keeps it: Secrets in the form the API server stores, redacted.

    The API server folds `stringData` into `data` (base64) and admission sees only `data`, so
    the ledger does the same before replacing every value by its digest; the webhook then
    compares the live object redacted the same way (under the same key) with it, digest for
    digest, and never sees a value.
    """
    if not _is_secret(manifest):
        return redact(manifest, digester=digester)
    folded = dict(manifest)
    string_data = folded.pop("stringData", None)
    if isinstance(string_data, Mapping):
        data = dict(folded.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        folded["data"] = data
    return redact(folded, digester=digester)
