"""A watch on one type: the stream of ADDED/MODIFIED/DELETED events the API server sends."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import urllib3

from gatekeeper.kube.errors import Gone, KubeError
from gatekeeper.kube.objects import ResourceType

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class Snapshot:
    """Every object of a type at one moment, and the resourceVersion of that moment."""

    items: list[dict[str, Any]]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    """One change: an object added, modified or deleted (its last state)."""

    type: EventType
    object: dict[str, Any]


class WatchStream:
    """The events of one watch request, read line by line as they arrive.

    Iterating ends when the server closes the watch (after its timeout) or `cut` is called;
    it raises `Gone` when the resourceVersion is too old (list again) and `KubeError` for any
    other error the server reports or a connection that breaks.
    """

    def __init__(
        self, response: urllib3.BaseHTTPResponse, *, resource: ResourceType, describe: str
    ) -> None:
        self._response = response
        self._resource = resource
        self._describe = describe
        self._cut = False

    def __iter__(self) -> Iterator[WatchEvent]:
        try:
            for line in self._lines():
                event = self._event(line)
                if event is not None:
                    yield event
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if not self._cut:
                raise KubeError(f"{self._describe}: the stream broke: {exc}") from exc
        finally:
            self.close()

    def cut(self) -> None:
        """End the stream now, from another thread: the socket is shut down under the reader."""
        self._cut = True
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        # Never back into the pool: a stream left half read would answer the next request.
        self._response.close()

    def _lines(self) -> Iterator[bytes]:
        pending = b""
        for chunk in self._response.stream(amt=65536, decode_content=False):
            if self._cut:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from (line for line in lines if line.strip())
        if pending.strip() and not self._cut:
            yield pending

    def _event(self, line: bytes) -> WatchEvent | None:
        document = json.loads(line)
        kind, item = document.get("type"), document.get("object") or {}
        if kind == "ERROR":
            code = int(item.get("code") or 0)
            message = f"{self._describe}: HTTP {code}: {item.get('message') or ''}"
            if code == 410:
                raise Gone(message, status=code, reason=str(item.get("reason") or ""))
            raise KubeError(message, status=code, reason=str(item.get("reason") or ""))
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return None  # BOOKMARK and anything newer carry no object change
        if not (item.get("metadata") or {}).get("name"):
            return None
        item.setdefault("apiVersion", self._resource.api_version)
        item.setdefault("kind", self._resource.kind)
        return WatchEvent(type=kind, object=item)
