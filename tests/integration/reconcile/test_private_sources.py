"""Private sources end to end on the local kube-apiserver, served by `git http-backend` behind
HTTP Basic authentication: an outage recorded once while the other sources go on, and a push
event that gets a signed commit applied at once (the time it takes is printed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.reconcile.gitsource import GitMirror
from gatekeeper.reconcile.receiver_server import ReceiverServer, build_app
from gatekeeper.reconcile.reconciler import PassResult, Reconciler
from gatekeeper.settings import ReceiverSettings, SourceSettings
from tests.fixtures.gitservers import GitHttpServer, bare_copy, free_port, git_http_server, push
from tests.integration.reconcile.conftest import Harness, config_map

__all__ = ["git_http_server"]

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

HOOK_SECRET = "push-hook-secret"


def _reconciler(harness: Harness, *sources: SourceSettings) -> Reconciler:
    git = {
        s.name: GitMirror(
            url=s.repo,
            ref=s.ref,
            trust_file=s.trust,
            cache_dir=harness.work / "mirrors",
            credentials=s.credentials,
            fetch_timeout=s.fetch_timeout,
        )
        for s in sources
    }
    reconciler = Reconciler(
        git=git,
        kube=harness.kube,
        engine=harness.engine,
        store=harness.store,
        sources=sources,
        identity="reconciler",
        work_dir=harness.work,
        retry_delay=0.05,
    )
    harness.reconcilers.append(reconciler)
    return reconciler


def _private(harness: Harness, server: GitHttpServer, password_file: Path) -> SourceSettings:
    return harness.source(
        name=f"{harness.name}-private",
        repo=server.url("gitops"),
        path="private",
        interval=3600,
        credentials={"https": {"username": server.username, "passwordFile": password_file}},
    )


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def _data(harness: Harness, name: str) -> dict[str, str] | None:
    try:
        found: dict[str, str] = (
            harness.core().read_namespaced_config_map(name, harness.namespace).data
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def test_an_outage_is_recorded_once_and_other_sources_go_on(
    harness: Harness, git_http_server: GitHttpServer, tmp_path: Path
) -> None:
    harness.commit(
        {
            "apps/cm.yaml": config_map("public-settings", {"a": "1"}),
            "private/cm.yaml": config_map("private-settings", {"b": "2"}),
        }
    )
    bare_copy(harness.repo.path, git_http_server.root / "gitops.git")
    password = tmp_path / "password"
    password.write_text("wrong")
    private = _private(harness, git_http_server, password)
    reconciler = _reconciler(harness, harness.source(), private)

    for _ in range(3):
        outcomes = {result.source: result.outcome for result in reconciler.run_once()}
        assert outcomes[private.name] == "failed"
        assert outcomes[harness.name] in ("applied", "unchanged")
    assert _data(harness, "public-settings") == {"a": "1"}
    (failed,) = harness.records(events.SYNC_FAILED)
    assert failed.source == private.name
    assert failed.payload["stage"] == "fetch"
    assert failed.payload["reason"] == "auth"
    assert "wrong" not in json.dumps(failed.payload)

    password.write_text(git_http_server.password)  # the Secret is fixed: the next pass syncs
    (result,) = [r for r in reconciler.run_once() if r.source == private.name]
    assert result.outcome == "applied", result.message
    assert _data(harness, "private-settings") == {"b": "2"}

    git_http_server.stop()  # a new outage, of another kind: recorded once more
    for _ in range(2):
        reconciler.run_once()
    kinds = [r.payload["reason"] for r in harness.records(events.SYNC_FAILED)]
    assert sorted(kinds) == ["auth", "unreachable"]


def test_a_failing_source_is_retried_with_backoff_in_the_loop(
    harness: Harness, git_http_server: GitHttpServer, tmp_path: Path
) -> None:
    harness.commit({"private/cm.yaml": config_map("private-settings", {"b": "2"})})
    bare_copy(harness.repo.path, git_http_server.root / "gitops.git")
    password = tmp_path / "password"
    password.write_text("wrong")
    private = _private(harness, git_http_server, password)
    reconciler = _reconciler(harness, private)
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    time.sleep(5.0)  # passes at 0, 2 and 4 seconds (backoff 2, 4, 8 ...; interval 3600)
    stop.set()
    loop.join(timeout=30)

    fetches = [path for _, path, _ in git_http_server.requests if "info/refs" in path]
    # each fetch asks twice: without credentials, then with them
    assert 2 <= len(fetches) // 2 <= 3
    assert len(harness.records(events.SYNC_FAILED)) == 1


@pytest.fixture
def looping(
    harness: Harness, git_http_server: GitHttpServer, tmp_path: Path
) -> Iterator[tuple[Reconciler, ReceiverServer, list[str]]]:
    harness.commit({"private/cm.yaml": config_map("private-settings", {"color": "blue"})})
    bare_copy(harness.repo.path, git_http_server.root / "gitops.git")
    password = tmp_path / "password"
    password.write_text(git_http_server.password)
    private = _private(harness, git_http_server, password)
    reconciler = _reconciler(harness, private)
    passes: list[str] = []
    original = reconciler.reconcile

    def counted(name: str) -> PassResult:
        passes.append(name)
        return original(name)

    reconciler.reconcile = counted  # type: ignore[method-assign]
    settings = ReceiverSettings(
        enabled=True,
        port=free_port(),
        coalesce=0.5,
        hooks=[{"provider": "github", "secret": HOOK_SECRET}],
    )
    app = build_app(
        settings,
        sources=reconciler.sources,
        trigger=reconciler.trigger,
        record=harness.store.append,
    )
    server = ReceiverServer(app, settings)
    server.start()
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    _wait(lambda: _data(harness, "private-settings") == {"color": "blue"})
    yield reconciler, server, passes
    stop.set()
    loop.join(timeout=30)
    server.stop()


def _push_event(server: ReceiverServer, url: str) -> Callable[[], httpx.Response]:
    body = json.dumps(
        {"ref": "refs/heads/main", "repository": {"clone_url": url, "html_url": url[:-4]}}
    ).encode()
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}"}

    def send() -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{server.port}/hooks/github", content=body, headers=headers
        )

    return send


def test_a_push_event_gets_the_pushed_commit_applied_at_once(
    harness: Harness,
    git_http_server: GitHttpServer,
    looping: tuple[Reconciler, ReceiverServer, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, server, passes = looping
    send = _push_event(server, git_http_server.url("gitops"))
    harness.commit({"private/cm.yaml": config_map("private-settings", {"color": "green"})})
    push(harness.repo.path, git_http_server.root / "gitops.git")
    before = len(passes)

    started = time.monotonic()
    assert send().status_code == 202
    _wait(lambda: _data(harness, "private-settings") == {"color": "green"})
    took = time.monotonic() - started

    assert len(passes) == before + 1
    with capsys.disabled():
        print(f"\npush to applied: {took:.2f}s (coalescing delay 0.5s included)")
    assert took < 20


def test_a_burst_of_twenty_pushes_is_one_pass(
    harness: Harness,
    git_http_server: GitHttpServer,
    looping: tuple[Reconciler, ReceiverServer, list[str]],
) -> None:
    _, server, passes = looping
    send = _push_event(server, git_http_server.url("gitops"))
    harness.commit({"private/cm.yaml": config_map("private-settings", {"color": "red"})})
    push(harness.repo.path, git_http_server.root / "gitops.git")
    before = len(passes)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers: list[Any] = list(pool.map(lambda _: send(), range(20)))
    assert {answer.status_code for answer in answers} == {202}
    _wait(lambda: _data(harness, "private-settings") == {"color": "red"})
    time.sleep(2.0)  # any second pass the burst caused would have started by now

    assert len(passes) == before + 1
