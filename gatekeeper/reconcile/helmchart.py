"""Helm sources, as teams use them: values files per environment, inline values, a release
name, a target namespace, dependencies, and the cluster's capabilities.

The chart is rendered in process by `helm-python-sdk` (the optional `helm` extra). Values are
merged as `helm template -f a.yaml -f b.yaml --set ...` merges them: the chart's own
`values.yaml`, then each of `valuesFiles` in order (repository paths, read as Kubernetes reads
YAML, inside the repository only), then the source's inline `values`; maps merge key by key,
anything else is replaced. `.Capabilities.KubeVersion` and `.Capabilities.APIVersions` are the
cluster's (its `/version` and the group versions it serves), so a chart that checks for
`policy/v1` renders what this cluster takes.
"""

from __future__ import annotations

import json
import posixpath
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, NoReturn

from gatekeeper.reconcile import helmdeps, helmrender
from gatekeeper.reconcile.errors import RenderError
from gatekeeper.reconcile.kubeyaml import Budget, load_all, read_text
from gatekeeper.reconcile.limited import GO_OUT_OF_MEMORY, limited
from gatekeeper.settings.sources import ReconcilerLimits

HELM_EXTRA_HINT: Final = (
    "rendering Helm charts needs the optional extra: pip install 'gitops-gatekeeper[helm]'"
)
_YAML_SUFFIXES: Final = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Capabilities:
    """What `.Capabilities` tells a chart: the cluster's version and served group versions."""

    kube_version: str
    api_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class HelmOptions:
    """How a source renders its chart (`SourceSettings`)."""

    release: str
    namespace: str | None = None
    values_files: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    repositories: tuple[str, ...] = ()
    capabilities: Callable[[], Capabilities | None] | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True)
class ChartOutput:
    """The rendered templates, the repository files the render read, what it fetched."""

    templates: list[tuple[str, str]]
    files: list[str]
    fetched: list[helmdeps.Fetched]


def render_chart(
    chart_dir: Path, repo_root: Path, origin: str, budget: Budget, options: HelmOptions
) -> ChartOutput:
    """Render the chart at `chart_dir` (the repository path `origin`); (template path under
    `origin`, text) pairs."""
    try:
        import helm_python
    except ImportError as exc:
        raise RenderError(f"{origin}: {HELM_EXTRA_HINT}") from exc
    values, value_files = merged_values(repo_root, options, budget)
    try:
        missing = [
            dependency
            for dependency in helm_python.dependency_list(chart_dir)
            if dependency.get("status") != "ok"
        ]
    except helm_python.HelmError as exc:
        raise RenderError(f"{origin}: cannot read the chart's dependencies: {exc}") from exc
    broken = [d for d in missing if d.get("status") != "missing"]
    if broken:
        described = ", ".join(f"{d.get('name')} ({d.get('status')})" for d in broken)
        raise RenderError(f"{origin}: dependencies under charts/ are not usable: {described}")
    files = sorted({*_chart_files(chart_dir, repo_root), *value_files})
    fetched = helmdeps.provide(
        chart_dir,
        origin,
        missing=missing,
        repositories=options.repositories,
        limits=budget.limits,
        cache_dir=options.cache_dir,
    )
    capabilities = options.capabilities() if options.capabilities is not None else None
    settings: dict[str, Any] = {
        "name": options.release,
        "namespace": options.namespace or "default",
        "is_install": True,
    }
    if capabilities is not None:
        settings["kube_version"] = capabilities.kube_version
        settings["api_versions"] = list(capabilities.api_versions)
    rendered = _render_apart(chart_dir, values, settings, budget.limits, origin)
    templates: list[tuple[str, str]] = []
    for template, text in sorted(json.loads(rendered).items()):
        if not template.endswith(_YAML_SUFFIXES) or not text.strip():
            continue
        chart_path = template.split("/", 1)[1] if "/" in template else template
        templates.append((str(PurePosixPath(origin) / chart_path), text))
    return ChartOutput(templates, files, fetched)


def _render_apart(
    chart_dir: Path,
    values: dict[str, Any],
    settings: dict[str, Any],
    limits: ReconcilerLimits,
    origin: str,
) -> str:
    """The chart's templates as Helm renders them (a JSON object), from a process of its own
    (`helmrender`, started by `limited`) bounded by `limits`' time and memory; `RenderError`
    past either."""
    request = {
        "chart": str(chart_dir),
        "values": values,
        "settings": settings,
        "maxBytes": limits.max_total_bytes,
    }
    try:
        payload = json.dumps(request).encode()
    except (TypeError, ValueError) as exc:
        raise RenderError(f"{origin}: the chart's values are not plain data: {exc}") from exc
    command = limited([sys.executable, "-m", helmrender.__name__], limits)
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise RenderError(f"{origin}: cannot start the Helm renderer: {exc}") from exc
    try:
        out, err = process.communicate(payload, timeout=limits.render_seconds)
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"{origin}: helm rendering ran longer than {limits.render_seconds:g} s "
            "(reconciler.limits.renderSeconds)"
        ) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    status, _, body = out.partition(b"\n")
    text = body.decode("utf-8", "replace")
    if process.returncode == 0 and status == b"ok":
        return text
    if process.returncode == 0 and status == b"error":
        raise RenderError(f"{origin}: helm rendering failed: {text}")
    if process.returncode == 0 and status == b"too-large":
        raise RenderError(
            f"{origin} (helm output): the chart renders {text} bytes, over the limit of "
            f"{limits.max_total_bytes} (reconciler.limits.maxTotalBytes)"
        )
    _render_crashed(process.returncode, err.decode("utf-8", "replace"), limits, origin)


_OUT_OF_MEMORY: Final = (*GO_OUT_OF_MEMORY, "MemoryError")


def _render_crashed(code: int, errors: str, limits: ReconcilerLimits, origin: str) -> NoReturn:
    """Raise the RenderError for a Helm renderer that ended without an answer."""
    if any(sign in errors for sign in _OUT_OF_MEMORY):
        raise RenderError(
            f"{origin}: helm rendering needed more than {limits.render_memory_bytes} bytes of "
            "memory (reconciler.limits.renderMemoryBytes)"
        )
    if code == -9:
        raise RenderError(
            f"{origin}: the Helm renderer was killed (SIGKILL), most likely by the container's "
            "memory limit: keep reconciler.limits.renderMemoryBytes "
            f"({limits.render_memory_bytes}) below it"
        )
    # A Go crash is followed by every goroutine's stack: its first lines say why.
    lines = [line for line in errors.strip().splitlines() if line.strip()]
    reason = " | ".join(lines[-3:] if "Traceback" in errors else lines[:2])[-400:]
    raise RenderError(f"{origin}: the Helm renderer stopped (exit code {code}): {reason}")


def merged_values(
    repo_root: Path, options: HelmOptions, budget: Budget
) -> tuple[dict[str, Any], list[str]]:
    """The values given to the chart over its defaults, and the values files read."""
    merged: dict[str, Any] = {}
    read: list[str] = []
    for index, name in enumerate(options.values_files):
        where = _inside(name, f"valuesFiles[{index}]")
        path = repo_root / where
        if not path.is_file():
            raise RenderError(f"valuesFiles[{index}]: {name}: no such file in the commit")
        documents = [
            d for d in load_all(read_text(path.read_bytes(), where, budget), where, budget) if d
        ]
        if len(documents) > 1 or (documents and not isinstance(documents[0], Mapping)):
            raise RenderError(f"{where}: values must be one YAML mapping")
        merge_into(merged, documents[0] if documents else {})
        read.append(where)
    merge_into(merged, options.values)
    return merged, read


def merge_into(target: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Helm's merge of values: maps key by key, anything else replaced (null included, which
    then removes the chart's default)."""
    for key, value in overrides.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge_into(current, value)
        elif isinstance(value, Mapping):
            fresh: dict[str, Any] = {}
            merge_into(fresh, value)
            target[key] = fresh
        else:
            target[key] = value


def _inside(name: str, label: str) -> str:
    clean = posixpath.normpath(name.strip())
    if posixpath.isabs(clean) or clean == ".." or clean.startswith("../"):
        raise RenderError(f"{label}: {name} is outside the repository")
    return clean


def _chart_files(chart_dir: Path, repo_root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(chart_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            try:
                found.append(path.relative_to(repo_root).as_posix())
            except ValueError:
                continue
    return found


def capabilities_from(answers: Sequence[Any]) -> Capabilities:
    """Capabilities from the API server's `/version`, `/api` and `/apis` answers."""
    version, core, groups = answers
    served: list[str] = list((core or {}).get("versions") or [])
    for group in (groups or {}).get("groups") or []:
        for entry in group.get("versions") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("groupVersion"), str):
                served.append(entry["groupVersion"])
    return Capabilities(str((version or {}).get("gitVersion", "")), tuple(sorted(set(served))))
