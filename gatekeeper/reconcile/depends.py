"""Sources that depend on each other (`dependsOn`), as Flux's Kustomizations do.

A source waits until every source it names is synced and healthy: its newest `sync.applied`
has been judged, and the judgement is `sync.healthy` for that same commit. Passes over all
sources run dependencies first. Pure functions of settings and records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.reconcile.errors import ReconcileError
from gatekeeper.reconcile.history import SYNC_HEALTHY
from gatekeeper.settings import SourceSettings


def order(sources: Sequence[SourceSettings]) -> list[SourceSettings]:
    """`sources` with every dependency before the sources that name it (otherwise in the
    order given); `ReconcileError` for a name no source has, or a cycle."""
    by_name = {source.name: source for source in sources}
    for source in sources:
        for needed in source.depends_on:
            if needed not in by_name:
                raise ReconcileError(f"source {source.name}: dependsOn names no source {needed!r}")
    placed: dict[str, SourceSettings] = {}
    visiting: list[str] = []

    def visit(source: SourceSettings) -> None:
        if source.name in placed:
            return
        if source.name in visiting:
            cycle = [*visiting[visiting.index(source.name) :], source.name]
            raise ReconcileError(f"dependsOn makes a cycle: {' -> '.join(cycle)}")
        visiting.append(source.name)
        for needed in source.depends_on:
            visit(by_name[needed])
        visiting.pop()
        placed[source.name] = source

    for source in sources:
        visit(source)
    return list(placed.values())


def not_ready(name: str, applied: Record | None, judged: Record | None) -> str | None:
    """Why the source `name` is not yet synced and healthy (None when it is), from its newest
    `sync.applied` and its newest health judgement (`sync.healthy`, `sync.unhealthy` or
    `rollback`)."""
    if applied is None:
        return f"{name} has not synced yet"
    commit = (applied.commit or "")[:12]
    if judged is None or judged.seq < applied.seq:
        return f"{name} at {commit} is not judged healthy yet"
    if judged.kind != SYNC_HEALTHY or judged.commit != applied.commit:
        what = "rolled back" if judged.kind == events.ROLLBACK else "unhealthy"
        return f"{name} at {commit} is {what}"
    return None


def waiting_message(source: str, reasons: Mapping[str, str]) -> str:
    listed = "; ".join(reasons[name] for name in sorted(reasons))
    return f"{source} waits for its dependencies: {listed}"
