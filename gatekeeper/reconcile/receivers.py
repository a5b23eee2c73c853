"""Push events of Git hosts: their signatures, what they say was pushed, whom it concerns.

Each provider signs (or authenticates) its events its own way, all checked in constant time
against the receiver's shared secret:

- GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body;
- GitLab: `X-Gitlab-Token: <secret>`, the secret itself;
- Gitea (and Forgejo): `X-Gitea-Signature: <hex>`, HMAC-SHA256 of the raw body;
- Bitbucket (Cloud and Data Center): `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256.

A push names its repository by several URLs (web, HTTPS clone, SSH clone) and the refs it
moved; a source is concerned when one of the URLs names its repo (host and path, ignoring
scheme, user, port, case and a `.git` suffix) and a moved ref is its `ref`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from gatekeeper.settings import SourceSettings

Provider = Literal["github", "gitlab", "gitea", "bitbucket"]
EventKind = Literal["push", "ping", "other"]


class Refused(Exception):
    """The event is not authentic: its signature (or token) is missing or wrong."""


class BadEvent(Exception):
    """The event is authentic but its body is not a push this receiver understands."""


@dataclass(frozen=True)
class Push:
    """What a push event says: the repository's URLs and the full refs it moved."""

    urls: tuple[str, ...]
    refs: tuple[str, ...]


# provider: (header, prefix); GitLab's is a token, not a signature.
_SIGNATURES: dict[str, tuple[str, str]] = {
    "github": ("X-Hub-Signature-256", "sha256="),
    "gitea": ("X-Gitea-Signature", ""),
    "bitbucket": ("X-Hub-Signature", "sha256="),
}

_EVENT_HEADERS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    # provider: (header, push events, ping events)
    "github": ("X-GitHub-Event", frozenset({"push"}), frozenset({"ping"})),
    "gitlab": ("X-Gitlab-Event", frozenset({"Push Hook", "Tag Push Hook"}), frozenset()),
    "gitea": ("X-Gitea-Event", frozenset({"push"}), frozenset()),
    "bitbucket": (
        "X-Event-Key",
        frozenset({"repo:push", "repo:refs_changed"}),
        frozenset({"diagnostics:ping"}),
    ),
}


def verify(provider: Provider, headers: Mapping[str, str], body: bytes, secret: bytes) -> None:
    """`Refused` unless the event carries the right signature (or token) for `secret`.

    `headers` must look names up case-insensitively (as Starlette's do)."""
    if provider == "gitlab":
        token = headers.get("X-Gitlab-Token")
        if not token:
            raise Refused("missing X-Gitlab-Token")
        if not hmac.compare_digest(token.encode("utf-8", "replace"), secret):
            raise Refused("wrong X-Gitlab-Token")
        return
    header, prefix = _SIGNATURES[provider]
    given = headers.get(header)
    if not given:
        raise Refused(f"missing {header}")
    expected = prefix + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower().encode("ascii", "replace"), expected.encode()):
        raise Refused(f"wrong {header}")


def event_kind(provider: Provider, headers: Mapping[str, str]) -> tuple[EventKind, str]:
    """Whether the event is a push, a ping, or something else; and its name."""
    header, pushes, pings = _EVENT_HEADERS[provider]
    name = headers.get(header, "")
    if name in pushes:
        return "push", name
    if name in pings:
        return "ping", name
    return "other", name


def parse_push(provider: Provider, payload: Any) -> Push:
    """The URLs and refs of a push event's JSON body; `BadEvent` when it has neither."""
    if not isinstance(payload, dict):
        raise BadEvent("the body is not a JSON object")
    if provider == "bitbucket":
        urls, refs = _bitbucket(payload)
    else:
        urls = _strings(payload.get("repository"), _REPOSITORY_URL_KEYS)
        if provider == "gitlab":
            urls += _strings(payload.get("project"), _REPOSITORY_URL_KEYS)
        ref = payload.get("ref")
        refs = [ref] if isinstance(ref, str) else []
    if not urls or not refs:
        raise BadEvent("the push names no repository URL or no ref")
    return Push(tuple(dict.fromkeys(urls)), tuple(dict.fromkeys(refs)))


_REPOSITORY_URL_KEYS = (
    "clone_url",
    "ssh_url",
    "git_url",
    "html_url",
    "url",
    "git_http_url",
    "git_ssh_url",
    "http_url",
    "web_url",
    "homepage",
)


def _strings(section: Any, keys: Sequence[str]) -> list[str]:
    if not isinstance(section, dict):
        return []
    return [value for key in keys if isinstance(value := section.get(key), str) and value]


def _bitbucket(payload: dict[str, Any]) -> tuple[list[str], list[str]]:
    repository = payload.get("repository")
    urls: list[str] = []
    refs: list[str] = []
    if isinstance(repository, dict):
        links = repository.get("links")
        if isinstance(links, dict):
            for kind in ("html", "clone", "self"):
                entry = links.get(kind)
                for item in entry if isinstance(entry, list) else [entry]:
                    if isinstance(item, dict) and isinstance(item.get("href"), str):
                        urls.append(item["href"])
    # Cloud: push.changes[].new {type: branch|tag, name}; Data Center: changes[].ref.id.
    push = payload.get("push")
    changes = push.get("changes") if isinstance(push, dict) else payload.get("changes")
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, dict):
            continue
        new = change.get("new")
        if isinstance(new, dict) and isinstance(new.get("name"), str):
            kind = "tags" if new.get("type") == "tag" else "heads"
            refs.append(f"refs/{kind}/{new['name']}")
        ref = change.get("ref")
        if isinstance(ref, dict) and isinstance(ref.get("id"), str):
            refs.append(ref["id"])
        elif isinstance(change.get("refId"), str):
            refs.append(change["refId"])
    return urls, refs


_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[\w.-]+):(?P<path>(?!//).*)$")


def repository_key(url: str) -> str | None:
    """`host/path` of a repository URL, for comparison; None for a local path."""
    text = url.strip()
    if "://" in text:
        parts = urlsplit(text)
        host, path = parts.hostname or "", parts.path
    elif (match := _SCP_LIKE.match(text)) is not None:
        host, path = match["host"], match["path"]
    else:
        return None
    path = path.strip("/").lower().removesuffix(".git").rstrip("/")
    if not host or not path:
        return None
    return f"{host.lower()}/{path}"


def ref_matches(source_ref: str, pushed: str) -> bool:
    return pushed in (source_ref, f"refs/heads/{source_ref}", f"refs/tags/{source_ref}")


def concerned(
    push: Push, sources: Iterable[SourceSettings], allowed: Sequence[str] = ()
) -> list[str]:
    """The names of the sources `push` moved: same repository, one of their refs."""
    keys = {key for url in push.urls if (key := repository_key(url)) is not None}
    found = []
    for source in sources:
        if allowed and source.name not in allowed:
            continue
        if repository_key(source.repo) not in keys:
            continue
        if any(ref_matches(source.ref, ref) for ref in push.refs):
            found.append(source.name)
    return found
