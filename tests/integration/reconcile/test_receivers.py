"""Push receivers on a real running server: each provider's signature scheme, accepted and
refused; refusals recorded (without the body) in a real audit store; limits; bursts."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatekeeper.audit import events
from gatekeeper.audit.store import AuditStore
from gatekeeper.reconcile.receiver_server import ReceiverServer, build_app
from gatekeeper.settings import ReceiverSettings, SourceSettings
from tests.fixtures.gitservers import free_port

pytestmark = pytest.mark.integration

SECRET = "hook-s3cret"
REPO = "https://git.example.com/shop/gitops.git"
COALESCE = 1.0  # long enough that a loaded machine sends a burst of 20 within it


def push_event(provider: str, ref: str = "refs/heads/main", repo: str = REPO) -> dict[str, Any]:
    """A push body as each provider shapes it (the fields the receiver reads, and a few)."""
    web = repo.removesuffix(".git")
    if provider == "github":
        return {"ref": ref, "repository": {"clone_url": repo, "html_url": web}, "pusher": {}}
    if provider == "gitlab":
        return {
            "object_kind": "push",
            "ref": ref,
            "project": {"git_http_url": repo, "web_url": web},
            "repository": {"git_http_url": repo, "homepage": web},
        }
    if provider == "gitea":
        return {"ref": ref, "repository": {"clone_url": repo, "html_url": web}}
    name = ref.removeprefix("refs/heads/")
    return {
        "repository": {"links": {"html": {"href": web}}, "full_name": "shop/gitops"},
        "push": {"changes": [{"new": {"type": "branch", "name": name}}]},
    }


def signed_headers(provider: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if provider == "github":
        return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}
    if provider == "gitlab":
        return {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret}
    if provider == "gitea":
        return {"X-Gitea-Event": "push", "X-Gitea-Signature": digest}
    return {"X-Event-Key": "repo:push", "X-Hub-Signature": f"sha256={digest}"}


class Running:
    def __init__(self, server: ReceiverServer, fired: list[set[str]]) -> None:
        self.server = server
        self.fired = fired
        self.base = f"http://127.0.0.1:{server.port}"

    def post(self, name: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.base}/hooks/{name}", content=body, headers=headers, timeout=10)

    def send(self, provider: str, *, secret: str = SECRET, **event: Any) -> httpx.Response:
        body = json.dumps(push_event(provider, **event)).encode()
        return self.post(provider, body, signed_headers(provider, body, secret))

    def wait_fired(self, count: int, timeout: float = 5.0) -> list[set[str]]:
        deadline = time.monotonic() + timeout
        while len(self.fired) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.fired


@pytest.fixture
def audit_store_for_receivers(tmp_path: Path) -> Iterator[AuditStore]:
    from gatekeeper.audit import migrate
    from gatekeeper.audit.database import create_database_engine

    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    yield store
    store.close()


@pytest.fixture
def running(
    tmp_path: Path, audit_store_for_receivers: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Running]:
    (tmp_path / "secret").write_text(SECRET + "\n")
    settings = ReceiverSettings(
        enabled=True,
        port=free_port(),
        coalesce=COALESCE,
        maxBodyBytes=4096,
        hooks=[
            {"provider": "github", "secret": SECRET},
            {"provider": "gitlab", "secretFile": tmp_path / "secret"},
            {"provider": "gitea", "secretEnv": "RECEIVER_TEST_SECRET"},
            {"provider": "bitbucket", "secret": SECRET},
        ],
    )
    sources = [
        SourceSettings(name="shop", repo=REPO, ref="main", trust=tmp_path / "t.yaml"),
        SourceSettings(
            name="shop-ssh", repo="git@git.example.com:shop/gitops.git", trust=tmp_path / "t"
        ),
        SourceSettings(name="shop-tag", repo=REPO, ref="v1", trust=tmp_path / "t.yaml"),
        SourceSettings(name="other", repo="https://git.example.com/x.git", trust=tmp_path / "t"),
    ]
    fired: list[set[str]] = []
    lock = threading.Lock()

    def trigger(names: set[str]) -> None:
        with lock:
            fired.append(names)

    monkeypatch.setenv("RECEIVER_TEST_SECRET", SECRET)
    app = build_app(
        settings, sources=sources, trigger=trigger, record=audit_store_for_receivers.append
    )
    server = ReceiverServer(app, settings)
    server.start()
    yield Running(server, fired)
    server.stop()


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea", "bitbucket"])
def test_a_signed_push_triggers_the_sources_of_its_repository_and_ref(
    running: Running, provider: str
) -> None:
    answer = running.send(provider)

    assert answer.status_code == 202, answer.text
    assert sorted(answer.json()["sources"]) == ["shop", "shop-ssh"]
    assert running.wait_fired(1) == [{"shop", "shop-ssh"}]


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea", "bitbucket"])
def test_a_wrong_signature_gets_401_and_is_recorded_without_the_body(
    running: Running, audit_store_for_receivers: AuditStore, provider: str
) -> None:
    answer = running.send(provider, secret="not-the-secret", ref="refs/heads/body-marker")

    assert answer.status_code == 401
    time.sleep(COALESCE + 0.5)
    assert running.fired == []
    (record,) = audit_store_for_receivers.query(kinds=[events.RECEIVER_REJECTED]).records
    assert record.payload["receiver"] == provider
    assert record.payload["reason"].startswith("wrong ")
    assert "body-marker" not in json.dumps(record.payload)
    assert "not-the-secret" not in json.dumps(record.payload)


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea", "bitbucket"])
def test_a_missing_signature_gets_401(running: Running, provider: str) -> None:
    body = json.dumps(push_event(provider)).encode()
    headers = {
        key: value
        for key, value in signed_headers(provider, body).items()
        if "Signature" not in key and "Token" not in key
    }
    assert running.post(provider, body, headers).status_code == 401


def test_a_signature_over_another_body_is_refused(running: Running) -> None:
    body = json.dumps(push_event("github")).encode()
    headers = signed_headers("github", body)
    tampered = body.replace(b"main", b"prod")
    assert running.post("github", tampered, headers).status_code == 401


def test_a_flood_of_refused_events_is_recorded_once_with_a_count(
    running: Running, audit_store_for_receivers: AuditStore
) -> None:
    for _ in range(5):
        assert running.send("github", secret="wrong").status_code == 401
    records = audit_store_for_receivers.query(kinds=[events.RECEIVER_REJECTED]).records
    assert len(records) == 1


def test_a_tag_push_triggers_the_source_following_the_tag(running: Running) -> None:
    assert running.send("github", ref="refs/tags/v1").json()["sources"] == ["shop-tag"]


def test_a_push_of_another_branch_or_repository_triggers_nothing(running: Running) -> None:
    assert running.send("gitea", ref="refs/heads/dev").json()["sources"] == []
    assert running.send("gitea", repo="https://git.example.com/y.git").json()["sources"] == []
    time.sleep(COALESCE + 0.5)
    assert running.fired == []


def test_a_burst_of_pushes_fires_once(running: Running) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: running.send("github"), range(20)))
    assert {answer.status_code for answer in answers} == {202}
    time.sleep(COALESCE + 0.5)
    assert running.fired == [{"shop", "shop-ssh"}]


def test_limits_methods_and_names(running: Running) -> None:
    big = json.dumps({"ref": "refs/heads/main", "pad": "x" * 5000}).encode()
    assert running.post("github", big, signed_headers("github", big)).status_code == 413
    assert httpx.get(f"{running.base}/hooks/github").status_code == 405
    body = json.dumps(push_event("github")).encode()
    assert running.post("nobody", body, signed_headers("github", body)).status_code == 404
    assert (
        running.post("github", b"{not json", signed_headers("github", b"{not json")).status_code
        == 400
    )


def test_a_ping_is_answered_and_triggers_nothing(running: Running) -> None:
    body = b'{"zen": "hi"}'
    headers = {**signed_headers("github", body), "X-GitHub-Event": "ping"}
    answer = running.post("github", body, headers)
    assert answer.status_code == 200
    assert answer.json() == {"pong": True}
