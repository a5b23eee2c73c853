"""Dependencies the routes declare, as `Annotated` aliases over the app's state."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.namespaces import NamespaceWatch
from gatekeeper.admission.service import AdmissionService
from gatekeeper.audit.store import AuditStore
from gatekeeper.settings import Settings


@dataclass(frozen=True)
class AppParts:
    """What `create_app` built, kept on `app.state.parts`."""

    settings: Settings
    service: AdmissionService
    metrics: AdmissionMetrics
    store: AuditStore
    namespaces: NamespaceWatch | None = None
    # Set when the server begins to stop (SIGTERM): from then on the webhook is not ready.
    stopping: threading.Event = field(default_factory=threading.Event)


def _parts(request: Request) -> AppParts:
    parts: AppParts = request.app.state.parts
    return parts


# Coroutines on purpose: FastAPI runs plain-function dependencies on a worker thread, a
# thread hop per dependency per request that the webhook's latency cannot afford.
async def _parts_dep(request: Request) -> AppParts:
    return _parts(request)


async def _metrics(request: Request) -> AdmissionMetrics:
    return _parts(request).metrics


async def _store(request: Request) -> AuditStore:
    return _parts(request).store


async def _namespaces(request: Request) -> NamespaceWatch | None:
    return _parts(request).namespaces


PartsDep = Annotated[AppParts, Depends(_parts_dep)]
MetricsDep = Annotated[AdmissionMetrics, Depends(_metrics)]
StoreDep = Annotated[AuditStore, Depends(_store)]
NamespacesDep = Annotated[NamespaceWatch | None, Depends(_namespaces)]
