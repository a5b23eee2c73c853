"""A dashboard over a real audit store (SQLite and PostgreSQL) with a tokens file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer, Verifier, generate_keypair, load_signer
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.app import create_app
from gatekeeper.dashboard.auth import TokensFile
from gatekeeper.dashboard.integrity import IntegrityMonitor
from gatekeeper.settings import Settings
from tests.unit.admission.asgi import AsgiClient

READER = "reader-token-0123456789"
MAKER = "maker-token-0123456789"


@dataclass
class Dashboard:
    client: AsgiClient
    store: AuditStore
    integrity: IntegrityMonitor
    signer: Signer

    def get(
        self, path: str, token: str | None = READER, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, headers={**auth, **(headers or {})})

    def post(self, path: str, body: object, token: str | None = READER) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request("POST", path, json=body, headers=auth)


def write_tokens(folder: Path) -> Path:
    path = folder / "tokens.yaml"
    entries = [
        {"user": "ann", "groups": ["auditors"], "tokenSha256": _digest(READER)},
        {"user": "max", "verbs": ["get", "create"], "tokenSha256": _digest(MAKER)},
    ]
    path.write_text(yaml.safe_dump(entries))
    return path


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seed(store: AuditStore) -> None:
    """A small log: syncs of two sources, admission decisions, break-glass and drift."""
    events = [
        NewEvent(
            kind="sync.applied",
            actor="gatekeeper",
            subject="source/apps",
            source="apps",
            commit="a" * 40,
            payload={"objects": 2},
        ),
        NewEvent(
            kind="admission.allowed",
            actor="reconciler",
            subject="apps/Deployment/shop/web",
            source="apps",
            commit="a" * 40,
        ),
        NewEvent(
            kind="admission.denied",
            actor="alice",
            subject="apps/Deployment/shop/web",
            payload={"reasons": ["managed from Git"]},
        ),
        NewEvent(
            kind="breakglass",
            actor="bob",
            subject="ConfigMap/shop/settings",
            payload={"break_glass_reason": "INC-7 → fix €"},
        ),
        NewEvent(
            kind="drift.detected",
            actor="gatekeeper",
            subject="ConfigMap/shop/settings",
            source="apps",
        ),
        NewEvent(
            kind="drift.corrected",
            actor="gatekeeper",
            subject="ConfigMap/shop/settings",
            source="apps",
        ),
        NewEvent(
            kind="sync.applied",
            actor="gatekeeper",
            subject="source/infra",
            source="infra",
            commit="b" * 40,
        ),
        NewEvent(
            kind="rollback",
            actor="carol",
            subject="source/apps",
            source="apps",
            commit="a" * 40,
            payload={"reason": "bad release"},
        ),
    ]
    for event in events:
        store.append(event)


def build_app(
    folder: Path, store: AuditStore, *, with_key: bool = True
) -> tuple[FastAPI, IntegrityMonitor, Signer]:
    """The dashboard on `store` as the tests run it: a tokens file, a signing key written to
    `folder`, reports kept under it; the integrity monitor is the caller's to refresh."""
    private, _public = generate_keypair(folder / "keys", overwrite=True)
    signer = load_signer(path=private)
    settings = Settings(
        audit={"signingKeyFile": str(private)},
        admission={"reconcilerIdentity": "reconciler"},
        dashboard={
            "auth": "tokens",
            "tokensFile": str(write_tokens(folder)),
            "reportsDir": str(folder / "reports"),
        },
    )
    integrity = IntegrityMonitor(store, Verifier(signer.public_key) if with_key else None)
    app = create_app(
        settings,
        store=store,
        authenticator=TokensFile.load(folder / "tokens.yaml"),
        integrity=integrity,
    )
    return app, integrity, signer


@pytest.fixture
def make_dashboard(store: AuditStore, tmp_path: Path) -> Iterator[Callable[..., Dashboard]]:
    clients: list[AsgiClient] = []

    def make(*, with_key: bool = True) -> Dashboard:
        app, integrity, signer = build_app(tmp_path, store, with_key=with_key)
        client = AsgiClient(app)
        client.__enter__()
        clients.append(client)
        return Dashboard(client=client, store=store, integrity=integrity, signer=signer)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def dashboard(make_dashboard: Callable[..., Dashboard]) -> Dashboard:
    """A dashboard over the seeded log, checkpointed and checked."""
    board = make_dashboard()
    seed(board.store)
    board.store.checkpoint(board.signer)
    board.integrity.refresh(full=True)
    return board


def served_answer(dashboard: Dashboard, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The request as a real server answers it: an exception escaping the app is a 500
    response here, not an exception raised into the test."""
    client = dashboard.client
    transport = httpx.ASGITransport(app=client._app, raise_app_exceptions=False)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as http:
            return await http.request(method, path, **kwargs)

    return client._loop.run_until_complete(call())
