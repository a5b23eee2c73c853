"""Who is asking: bearer tokens checked against a tokens file or the cluster's reviews.

Every request to the dashboard is authenticated; nothing is anonymous. Outside a cluster a
tokens file lists who may read (tokens kept as SHA-256 digests, never in clear). In a cluster
a token is checked with a TokenReview, and each verb with a SubjectAccessReview on the virtual
resource `reports.gatekeeper.dev` (`get` to read, `create` to make reports and bundles).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import yaml

from gatekeeper.dashboard.errors import AuthUnavailable, Forbidden, Unauthenticated
from gatekeeper.errors import ConfigError
from gatekeeper.kube.errors import KubeError

Verb = Literal["get", "create"]
VERBS: Final[tuple[Verb, ...]] = ("get", "create")
RESOURCE_GROUP: Final = "gatekeeper.dev"
RESOURCE: Final = "reports"
_CACHE_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""


class Authenticator(Protocol):
    """Turns a bearer token into a principal, and says what that principal may do."""

    def authenticate(self, token: str) -> Principal: ...

    def authorize(self, principal: Principal, verb: Verb) -> None: ...


def token_digest(token: str) -> str:
    """The hex SHA-256 a tokens file keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    verbs: frozenset[str]


class TokensFile:
    """Tokens from a YAML file: `- {user, groups, verbs, tokenSha256}` per entry.

    `verbs` defaults to `[get]`; `create` also lets the holder make reports and bundles.
    """

    def __init__(self, entries: Mapping[str, _Entry]) -> None:
        self._entries = dict(entries)

    @classmethod
    def load(cls, path: Path) -> TokensFile:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"dashboard.tokensFile {path}: cannot read it: {exc}") from exc
        if not isinstance(document, list) or not document:
            raise ConfigError(f"dashboard.tokensFile {path}: expected a non-empty list")
        entries: dict[str, _Entry] = {}
        for index, item in enumerate(document):
            where = f"dashboard.tokensFile {path}: entry {index}"
            entry, digest = _entry(item, where)
            if digest in entries:
                raise ConfigError(f"{where}: the same token is listed twice")
            entries[digest] = entry
        return cls(entries)

    def authenticate(self, token: str) -> Principal:
        digest = token_digest(token)
        for known, entry in self._entries.items():
            if hmac.compare_digest(known, digest):
                return entry.principal
        raise Unauthenticated("the token is not known")

    def authorize(self, principal: Principal, verb: Verb) -> None:
        for entry in self._entries.values():
            if entry.principal == principal:
                if verb in entry.verbs:
                    return
                break
        raise Forbidden(f"{principal.user} may not {verb} {RESOURCE}.{RESOURCE_GROUP}")


_KEYS: Final = frozenset({"user", "groups", "verbs", "tokenSha256"})


def _entry(item: Any, where: str) -> tuple[_Entry, str]:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping with user and tokenSha256")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    user, digest = item.get("user"), item.get("tokenSha256")
    if not isinstance(user, str) or not user:
        raise ConfigError(f"{where}: user must be a non-empty string")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ConfigError(f"{where}: tokenSha256 must be 64 hex digits (sha256sum of the token)")
    groups = item.get("groups", [])
    verbs = item.get("verbs", ["get"])
    for name, values in (("groups", groups), ("verbs", verbs)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{where}: {name} must be a list of strings")
    bad = sorted(set(verbs) - set(VERBS))
    if bad:
        raise ConfigError(f"{where}: unknown verb {bad[0]!r} (known: get, create)")
    # The uid names the entry, so that two tokens of one user keep their own verbs.
    principal = Principal(user=user, groups=tuple(groups), uid=f"token:{digest.lower()[:16]}")
    return _Entry(principal=principal, verbs=frozenset(verbs)), digest.lower()


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdefABCDEF" for character in text)


class ReviewPort(Protocol):
    """The API server calls a cluster authenticator needs (satisfied by `KubeClient`)."""

    def request(self, method: str, path: str, *, body: Mapping[str, Any] | None = None) -> Any: ...


@dataclass
class _Cached:
    value: Any
    until: float


@dataclass
class KubernetesReviews:
    """TokenReview for who, SubjectAccessReview for what; answers cached for 30 seconds."""

    api: ReviewPort
    _cache: dict[tuple[str, ...], _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(self, token: str) -> Principal:
        key = ("token", token_digest(token))
        cached = self._lookup(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        review = self._create(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            },
        )
        status = review.get("status") or {}
        if not status.get("authenticated"):
            raise Unauthenticated(
                str(status.get("error") or "the API server does not know the token")
            )
        user = status.get("user") or {}
        principal = Principal(
            user=str(user.get("username") or ""),
            groups=tuple(str(g) for g in user.get("groups") or []),
            uid=str(user.get("uid") or ""),
        )
        self._store(key, principal)
        return principal

    def authorize(self, principal: Principal, verb: Verb) -> None:
        key = ("access", principal.user, principal.uid, *principal.groups, "|", verb)
        allowed = self._lookup(key)
        if allowed is None:
            review = self._create(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": {
                        "user": principal.user,
                        "groups": list(principal.groups),
                        "uid": principal.uid,
                        "resourceAttributes": {
                            "group": RESOURCE_GROUP,
                            "resource": RESOURCE,
                            "verb": verb,
                        },
                    },
                },
            )
            allowed = bool((review.get("status") or {}).get("allowed"))
            self._store(key, allowed)
        if not allowed:
            raise Forbidden(f"{principal.user} may not {verb} {RESOURCE}.{RESOURCE_GROUP}")

    def _create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            answer = self.api.request("POST", path, body=body)
        except KubeError as exc:
            raise AuthUnavailable(f"cannot ask the API server who is calling: {exc}") from exc
        return answer if isinstance(answer, dict) else {}

    def _lookup(self, key: tuple[str, ...]) -> Any:
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached.until < time.monotonic():
                return None
            return cached.value

    def _store(self, key: tuple[str, ...], value: Any) -> None:
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = _Cached(value, time.monotonic() + _CACHE_SECONDS)
