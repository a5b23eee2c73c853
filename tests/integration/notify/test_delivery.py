"""Notifications delivered from the real audit store to a real local HTTP receiver: the JSON
and Slack formats, a receiver that is down and comes back, one that never does, and one
that is slow; restarts neither lose nor repeat a record."""

from __future__ import annotations

import hashlib
import hmac
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.audit.cursors import Cursors
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from gatekeeper.notify import formats
from gatekeeper.notify.notifier import Notifier
from gatekeeper.settings import Settings
from tests.fixtures.cluster import wait_for
from tests.fixtures.receiver import Receiver, free_port

pytestmark = pytest.mark.integration

SECRET = "a shared key of the receiver"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(port=free_port())
    yield found
    found.down()


def _settings(tmp_path: Path, *targets: dict[str, Any], poll: float = 0.05) -> Settings:
    return Settings(
        notifications={"targets": list(targets), "pollInterval": poll},
        _config_dir=tmp_path,  # type: ignore[call-arg]
    )


def _webhook(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {
        "name": "hook",
        "type": "webhook",
        "url": receiver.url,
        "secret": SECRET,
        "kinds": ["sync.rejected", "drift.*"],
        "retry": {"initial": "50ms", "max": "200ms"},
        **extra,
    }


def _rejected(n: int, source: str = "apps") -> NewEvent:
    return NewEvent(
        kind="sync.rejected",
        actor="gatekeeper-reconciler",
        subject=f"source/{source}",
        source=source,
        commit=f"{n:040x}",
        payload={"reasons": [{"kind": "policy", "message": f"reason {n}"}]},
    )


def test_records_go_to_a_webhook_signed_and_to_slack_in_its_format(
    store: AuditStore, receiver: Receiver, tmp_path: Path
) -> None:
    slack = Receiver(port=free_port())
    slack.up()
    receiver.up()
    url_file = tmp_path / "slack-url"
    url_file.write_text(slack.url + "\n")
    settings = _settings(
        tmp_path,
        _webhook(receiver),
        {"name": "chat", "type": "slack", "urlFile": "slack-url", "kinds": ["sync.rejected"]},
    )
    notifier = Notifier.from_settings(settings, store, kube=None)
    notifier.start()
    try:
        store.append(NewEvent(kind="sync.applied", actor="r", source="apps"))
        store.append(_rejected(1))
        store.append(
            NewEvent(
                kind="drift.detected",
                actor="alice",
                subject="ConfigMap/shop/settings",
                source="apps",
                payload={"object": "ConfigMap/shop/settings", "diff": [{"path": "data.v"}]},
            )
        )
        wait_for(lambda: len(receiver.deliveries) == 2 and len(slack.deliveries) == 1)
    finally:
        notifier.stop()
        slack.down()

    first, second = receiver.deliveries
    assert [first.json()["kind"], second.json()["kind"]] == ["sync.rejected", "drift.detected"]
    stored = store.get(first.json()["seq"])
    assert stored is not None
    assert first.json()["hash"] == stored.hash
    assert first.json()["payload"] == dict(stored.payload)
    expected = hmac.new(SECRET.encode(), first.body, hashlib.sha256).hexdigest()
    assert first.headers[formats.SIGNATURE_HEADER] == f"sha256={expected}"
    assert first.headers[formats.DELIVERY_HEADER].startswith(f"hook:{stored.seq}:")
    message = slack.deliveries[0].json()
    assert "sync.rejected" in message["text"] and "reason 1" in message["text"]
    assert message["blocks"][0]["type"] == "section"
    assert "reason 1" in message["blocks"][0]["text"]["text"]
    assert slack.deliveries[0].path == "/hook/secret-path"


def test_a_receiver_that_is_down_gets_everything_once_in_order_when_it_comes_back(
    store: AuditStore, receiver: Receiver, tmp_path: Path
) -> None:
    notifier = Notifier.from_settings(_settings(tmp_path, _webhook(receiver)), store, kube=None)
    notifier.start()
    try:
        for n in range(5):
            store.append(_rejected(n))
        time.sleep(0.6)  # several failed tries, with backoff
        assert receiver.deliveries == []
        receiver.up()
        wait_for(lambda: len(receiver.deliveries) == 5, seconds=10)
    finally:
        notifier.stop()
    seqs = [body["seq"] for body in receiver.bodies()]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_a_restarted_notifier_resumes_after_the_last_delivery_without_loss_or_repeat(
    store: AuditStore, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.up()
    settings = _settings(tmp_path, _webhook(receiver))
    first = Notifier.from_settings(settings, store, kube=None)
    first.start()
    for n in range(3):
        store.append(_rejected(n))
    wait_for(lambda: len(receiver.deliveries) == 3)
    first.stop()
    # Recorded while no notifier runs, and while the receiver is down.
    for n in range(3, 6):
        store.append(_rejected(n))
    receiver.down()
    second = Notifier.from_settings(settings, store, kube=None)
    second.start()
    try:
        time.sleep(0.3)
        receiver.up()
        wait_for(lambda: len(receiver.deliveries) == 6, seconds=10)
        time.sleep(0.3)
    finally:
        second.stop()
    commits = [body["commit"] for body in receiver.bodies()]
    assert commits == [f"{n:040x}" for n in range(6)]


def test_a_record_that_cannot_be_delivered_is_passed_over_and_the_drop_recorded(
    store: AuditStore, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.status = 500
    receiver.up()
    target = _webhook(receiver, retry={"initial": "20ms", "max": "50ms", "giveUpAfter": "300ms"})
    notifier = Notifier.from_settings(_settings(tmp_path, target), store, kube=None)
    notifier.start()
    try:
        lost = store.append(_rejected(1))
        wait_for(lambda: store.query(kinds=["notification.dropped"]).records, seconds=10)
        receiver.status = 200
        kept = store.append(_rejected(2))
        wait_for(lambda: len(receiver.deliveries) == 1, seconds=10)
    finally:
        notifier.stop()
    (drop,) = store.query(kinds=["notification.dropped"]).records
    assert drop.payload["seq"] == lost.seq and drop.payload["target"] == "hook"
    assert drop.payload["attempts"] >= 2
    assert "HTTP 500" in drop.payload["error"]
    assert receiver.bodies()[0]["seq"] == kept.seq
    assert receiver.attempts >= 3


def test_only_the_named_sources_and_kinds_are_sent(
    store: AuditStore, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.up()
    target = _webhook(receiver, sources=["payments"], kinds=["sync.*"])
    notifier = Notifier.from_settings(_settings(tmp_path, target), store, kube=None)
    notifier.open_cursors()
    store.append(_rejected(1, source="apps"))
    store.append(NewEvent(kind="breakglass", actor="bob", source="payments"))
    wanted = store.append(_rejected(2, source="payments"))
    assert notifier.drain(5.0)
    assert [body["seq"] for body in receiver.bodies()] == [wanted.seq]
    # The cursor has passed the records it skipped too.
    assert Cursors(store).get("notify/hook") == store.head()[0]


def test_a_cursor_moves_only_from_where_it_is(store: AuditStore) -> None:
    cursors = Cursors(store)
    assert cursors.get("notify/x") is None
    assert cursors.start("notify/x", 4) == 4
    assert cursors.start("notify/x", 9) == 4  # the first one set stays
    assert cursors.advance("notify/x", frm=4, to=7)
    assert not cursors.advance("notify/x", frm=4, to=8)  # a stale holder is refused
    assert cursors.get("notify/x") == 7


@pytest.mark.slow
def test_a_slow_receiver_never_holds_up_the_writers(
    store: AuditStore, receiver: Receiver, tmp_path: Path
) -> None:
    def append_times(count: int) -> list[float]:
        taken = []
        for n in range(count):
            started = time.perf_counter()
            store.append(_rejected(n))
            taken.append(time.perf_counter() - started)
        return taken

    baseline = append_times(40)
    receiver.delay = 2.0
    receiver.up()
    notifier = Notifier.from_settings(_settings(tmp_path, _webhook(receiver)), store, kube=None)
    notifier.start()
    try:
        store.append(_rejected(100))
        wait_for(lambda: receiver.attempts >= 1, seconds=5)  # a delivery is under way
        loaded = append_times(40)
    finally:
        notifier.stop()
    print(
        f"append p50 {statistics.median(baseline) * 1000:.2f} ms without, "
        f"{statistics.median(loaded) * 1000:.2f} ms with a 2 s receiver; "
        f"max {max(loaded) * 1000:.2f} ms"
    )
    assert max(loaded) < 1.0
    assert statistics.median(loaded) < statistics.median(baseline) * 3 + 0.01
