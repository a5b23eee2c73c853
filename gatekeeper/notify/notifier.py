"""The notifier: one follower of the audit log per target, each with its own cursor, so a
target that is down holds back only its own notifications."""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.follow import Backoff, Done, LogFollower
from gatekeeper.audit.store import AuditStore
from gatekeeper.errors import ConfigError
from gatekeeper.kube.client import KubeClient
from gatekeeper.notify import formats, http
from gatekeeper.notify.errors import NotifyError
from gatekeeper.notify.kube_events import EventSender, Involved, is_about_an_event
from gatekeeper.settings import NotificationTarget, Settings

log = logging.getLogger(__name__)

DROPPED_KIND = events.NOTIFICATION_DROPPED
CURSOR_PREFIX = "notify/"
Send = Callable[[Record], None]


class TargetConsumer:
    """Picks a target's records and sends them one at a time, in order. A record that keeps
    failing is passed over after `give_up_after` seconds, and a `notification.dropped`
    record says so: nothing leaves the log unaccounted for."""

    def __init__(
        self,
        *,
        name: str,
        kinds: Sequence[str],
        sources: Sequence[str],
        send: Send,
        give_up_after: float,
        record: Callable[[NewEvent], object],
        skip_events: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._kinds = tuple(kinds)
        self._sources = frozenset(sources)
        self._send = send
        self._give_up_after = give_up_after
        self._record = record
        self._skip_events = skip_events
        self._clock = clock
        self._failing: dict[int, tuple[float, int]] = {}
        self.delivered = 0
        self.dropped = 0

    def wants(self, record: Record) -> bool:
        if not any(fnmatch.fnmatchcase(record.kind, kind) for kind in self._kinds):
            return False
        if self._sources and record.source not in self._sources:
            return False
        return not (self._skip_events and is_about_an_event(record))

    def consume(self, records: Sequence[Record], done: Done) -> None:
        for record in records:
            try:
                self._send(record)
            except NotifyError as exc:
                if not self._give_up(record, exc):
                    raise
            else:
                self._failing.pop(record.seq, None)
                self.delivered += 1
            done(record.seq)

    def _give_up(self, record: Record, error: NotifyError) -> bool:
        since, attempts = self._failing.get(record.seq, (self._clock(), 0))
        attempts += 1
        self._failing = {record.seq: (since, attempts)}
        if self._clock() - since < self._give_up_after:
            return False
        log.error(
            "%s: record #%d (%s) not delivered after %d tries, passed over: %s",
            self.name,
            record.seq,
            record.kind,
            attempts,
            error,
        )
        # A drop's own record is not dropped again in turn.
        if record.kind != DROPPED_KIND:
            self._record(
                NewEvent(
                    kind=DROPPED_KIND,
                    actor="gatekeeper-notifier",
                    subject=f"notification/{self.name}",
                    payload={
                        "target": self.name,
                        "seq": record.seq,
                        "kind": record.kind,
                        "attempts": attempts,
                        "error": str(error)[:500],
                    },
                )
            )
        self._failing = {}
        self.dropped += 1
        return True


def _read_secret(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NotifyError(f"cannot read {what} file {path}: {exc.strerror}") from exc


def http_sender(target: NotificationTarget, settings: Settings) -> Send:
    """The POST of a webhook or Slack target. URL and key files are read at each delivery,
    so that a rotated Secret takes effect without a restart."""
    url_file = settings.resolve(target.url_file)
    secret_file = settings.resolve(target.secret_file)
    for key, path in (("urlFile", url_file), ("secretFile", secret_file)):
        if path is not None and not path.is_file():
            raise ConfigError(f"notifications target {target.name}: {key} {path} is missing")

    def url() -> str:
        if target.url is not None:
            return target.url.get_secret_value().strip()
        assert url_file is not None
        return _read_secret(url_file, "URL")

    def secret() -> bytes | None:
        if target.secret is not None:
            return target.secret.get_secret_value().encode()
        if secret_file is not None:
            return _read_secret(secret_file, "secret").encode()
        return None

    def send(record: Record) -> None:
        if target.type == "slack":
            body = formats.slack_body(record)
            headers = {"Content-Type": "application/json; charset=utf-8"}
        else:
            body = formats.webhook_body(record)
            headers = formats.webhook_headers(target.name, record, body, secret())
        http.post(url(), body, headers, timeout=target.timeout)

    return send


def event_sender(target: NotificationTarget, kube: KubeClient) -> Send:
    where = target.source_object
    involved = Involved(where.api_version, where.kind, where.name, where.namespace)
    return EventSender(kube, source_object=involved).send


class Notifier:
    """Every configured target's follower; start, stop, or drain them together."""

    def __init__(self, followers: Sequence[LogFollower], consumers: Sequence[TargetConsumer]):
        self.followers = list(followers)
        self.consumers = list(consumers)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: AuditStore,
        *,
        kube: KubeClient | None,
        active: Callable[[], bool] = lambda: True,
    ) -> Notifier:
        config = settings.notifications
        followers, consumers = [], []
        for target in config.targets:
            if target.type == "kubernetesEvents":
                if kube is None:
                    raise ConfigError(f"notifications target {target.name} needs a cluster")
                send = event_sender(target, kube)
            else:
                send = http_sender(target, settings)
            consumer = TargetConsumer(
                name=target.name,
                kinds=target.kinds,
                sources=target.sources,
                send=send,
                give_up_after=target.retry.give_up_after,
                record=store.append,
                skip_events=target.type == "kubernetesEvents",
            )
            consumers.append(consumer)
            followers.append(
                LogFollower(
                    store,
                    name=CURSOR_PREFIX + target.name,
                    consumer=consumer,
                    interval=config.poll_interval,
                    backoff=Backoff(initial=target.retry.initial, longest=target.retry.max),
                    active=active,
                )
            )
        return cls(followers, consumers)

    def open_cursors(self) -> None:
        """Fix where new cursors start (the head, now), before anything is recorded that
        they should deliver: `start` and a pass of `reconcile --once` call it first."""
        for follower in self.followers:
            follower.position()

    def start(self) -> None:
        self.open_cursors()
        for follower in self.followers:
            follower.start()

    def stop(self) -> None:
        for follower in self.followers:
            follower.stop()

    def drain(self, timeout: float) -> bool:
        """Deliver what is recorded now, within `timeout` seconds in all; True when all was."""
        deadline = time.monotonic() + timeout
        return all(
            [follower.drain(max(0.0, deadline - time.monotonic())) for follower in self.followers]
        )
