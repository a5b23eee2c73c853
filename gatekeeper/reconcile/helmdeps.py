"""Chart dependencies: vendored under `charts/`, or locked in `Chart.lock` and fetched as pinned.

What is trusted is what the signed commit pins. A dependency archive committed under the
chart's `charts/` folder is part of the commit. One that is only declared is fetched from its
Helm repository, and only when:

- `Chart.lock` lists it with the exact `version` and a `digest` of its archive
  (`sha256:<hex>`, as the repository's `index.yaml` lists it). Helm's own lock has a digest
  of the dependency list only, which says nothing about the archive, so the per-dependency
  `digest` is the gatekeeper's addition (Helm ignores the field);
- its repository is one the source lists in `helmRepositories` (the commit cannot make the
  reconciler fetch from anywhere else, redirects included);
- the archive fetched has exactly that digest. Any other digest is a `DependencyRefused`,
  which rejects the commit and is recorded with both digests.

A repository that cannot be reached (or answers 429 or 5xx) fails the pass instead
(`SourceUnavailable`), which is tried again: the commit is not to blame.

Fetched archives are kept by digest in a cache folder, checked again on every use.
OCI registries (`oci://`) and `file://` dependencies are refused with a message that says to
vendor the chart under `charts/`.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gatekeeper.reconcile.errors import DependencyRefused, RenderError, SourceUnavailable
from gatekeeper.reconcile.kubeyaml import Budget, load_all, read_text
from gatekeeper.settings import ReconcilerLimits

_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class Fetched:
    """One dependency fetched for a render, as the record shows it."""

    chart: str
    name: str
    version: str
    repository: str
    url: str
    digest: str

    def as_record(self) -> dict[str, str]:
        return {
            "chart": self.chart,
            "name": self.name,
            "version": self.version,
            "repository": self.repository,
            "url": self.url,
            "digest": self.digest,
        }


def provide(
    chart_dir: Path,
    origin: str,
    *,
    missing: Sequence[Mapping[str, Any]],
    repositories: Sequence[str],
    limits: ReconcilerLimits,
    cache_dir: Path | None,
) -> list[Fetched]:
    """Fetch every dependency in `missing` (declared, not under `charts/`) as `Chart.lock`
    pins it, into `chart_dir/charts/`; what was fetched."""
    if not missing:
        return []
    locked = _lock(chart_dir, origin, limits)
    fetched: list[Fetched] = []
    for dependency in missing:
        name = str(dependency.get("name", ""))
        entry = locked.get(name)
        if entry is None:
            raise RenderError(
                f"{origin}: dependency {name} is neither vendored under charts/ nor listed in "
                "Chart.lock"
            )
        fetched.append(
            _fetch(
                chart_dir, origin, entry, repositories=repositories, limits=limits, cache=cache_dir
            )
        )
    return fetched


def _lock(chart_dir: Path, origin: str, limits: ReconcilerLimits) -> dict[str, Mapping[str, Any]]:
    where = f"{origin}/Chart.lock"
    path = chart_dir / "Chart.lock"
    if not path.is_file():
        raise RenderError(
            f"{origin}: the chart declares dependencies that are not vendored under charts/, "
            "and has no Chart.lock pinning them"
        )
    budget = Budget(limits)
    documents = load_all(read_text(path.read_bytes(), where, budget), where, budget)
    lock = documents[0] if documents else None
    entries = lock.get("dependencies") if isinstance(lock, Mapping) else None
    if not isinstance(entries, list):
        raise RenderError(f"{where}: no dependencies list")
    found: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        label = f"{where}: dependencies[{index}]"
        if not isinstance(entry, Mapping):
            raise RenderError(f"{label}: not a mapping")
        for key in ("name", "version", "repository"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise RenderError(f"{label}: no {key}")
        digest = entry.get("digest")
        if not isinstance(digest, str) or not _is_digest(digest):
            raise RenderError(
                f"{label}: {entry['name']} pins no archive digest; add "
                "`digest: sha256:<hex>` (the archive's digest, as the repository's index.yaml "
                "lists it) or vendor the chart under charts/"
            )
        found[str(entry["name"])] = entry
    return found


def _is_digest(text: str) -> bool:
    hex_part = text.removeprefix("sha256:")
    return text.startswith("sha256:") and len(hex_part) == 64 and _is_hex(hex_part)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _fetch(
    chart_dir: Path,
    origin: str,
    entry: Mapping[str, Any],
    *,
    repositories: Sequence[str],
    limits: ReconcilerLimits,
    cache: Path | None,
) -> Fetched:
    name, version, repository = str(entry["name"]), str(entry["version"]), str(entry["repository"])
    pinned = str(entry["digest"])
    details = {"chart": origin, "name": name, "version": version, "repository": repository}
    scheme = urllib.parse.urlsplit(repository).scheme
    if scheme not in ("http", "https"):
        raise DependencyRefused(
            f"{origin}: dependency {name} {version} comes from {repository}; only Helm "
            "repositories over HTTP(S) are fetched, vendor it under charts/",
            **details,
        )
    if not _allowed(repository, repositories):
        raise DependencyRefused(
            f"{origin}: dependency {name} {version} comes from {repository}, which is not in "
            "the source's helmRepositories",
            **details,
        )
    cached = cache / f"{pinned.removeprefix('sha256:')}.tgz" if cache is not None else None
    data = cached.read_bytes() if cached is not None and cached.is_file() else None
    url = ""
    if data is None or _digest(data) != pinned:
        url = _archive_url(repository, name, version, limits, details)
        if not _allowed(url, repositories):
            raise DependencyRefused(
                f"{origin}: the index of {repository} sends dependency {name} {version} to "
                f"{url}, outside the source's helmRepositories",
                url=url,
                **details,
            )
        data = _get(url, limits.max_file_bytes, details)
        actual = _digest(data)
        if actual != pinned:
            raise DependencyRefused(
                f"{origin}: dependency {name} {version} fetched from {url} has digest {actual}, "
                f"but Chart.lock pins {pinned}; refused",
                url=url,
                expected=pinned,
                actual=actual,
                **details,
            )
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
    target = chart_dir / "charts" / f"{name}-{version}.tgz"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return Fetched(origin, name, version, repository, url or "(cache)", pinned)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _allowed(url: str, repositories: Sequence[str]) -> bool:
    clean = url.rstrip("/") + "/"
    return any(clean.startswith(repo.rstrip("/") + "/") for repo in repositories)


def _archive_url(
    repository: str, name: str, version: str, limits: ReconcilerLimits, details: dict[str, str]
) -> str:
    index_url = repository.rstrip("/") + "/index.yaml"
    raw = _get(index_url, limits.max_file_bytes, details)
    budget = Budget(limits)
    documents = load_all(read_text(raw, index_url, budget), index_url, budget)
    index = documents[0] if documents else None
    entries = index.get("entries") if isinstance(index, Mapping) else None
    versions = entries.get(name) if isinstance(entries, Mapping) else None
    for item in versions if isinstance(versions, list) else []:
        if isinstance(item, Mapping) and str(item.get("version")) == version:
            urls = item.get("urls")
            if isinstance(urls, list) and urls and isinstance(urls[0], str):
                return urllib.parse.urljoin(repository.rstrip("/") + "/", urls[0])
    raise DependencyRefused(f"{index_url} lists no {name} {version}", **details)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an error: the commit names where charts come from


_OPENER: Final = urllib.request.build_opener(_NoRedirect)


def _get(url: str, limit: int, details: dict[str, str]) -> bytes:
    try:
        with _OPENER.open(url, timeout=_TIMEOUT) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        message = f"GET {url}: HTTP {exc.code} {exc.reason}"
        if exc.code == 429 or exc.code >= 500:
            raise SourceUnavailable(message) from exc
        raise DependencyRefused(message, url=url, **details) from exc
    except (urllib.error.URLError, OSError) as exc:
        # Unreachable: the pass fails and is tried again; the commit is not rejected.
        raise SourceUnavailable(f"GET {url}: {exc}") from exc
    if len(data) > limit:
        raise DependencyRefused(
            f"GET {url}: more than {limit} bytes (reconciler.limits.maxFileBytes)",
            url=url,
            **details,
        )
    return data
