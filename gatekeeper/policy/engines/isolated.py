"""An embedded engine run in child processes, so that a slow evaluation can be cut off.

Embedded engines evaluate in native code that holds Python's global lock: while a policy
loops, no other thread of the process runs, not even the event loop that should answer at
the deadline. `IsolatedEngine` keeps the engine in a few child processes
(`python -m gatekeeper.policy.engines.isolated`) and waits for each answer with the lock
released; an evaluation that outlasts `timeout` raises `EvaluationError`, and its process
is killed and replaced by a new one on the next query. Evaluations in different children
also run on different cores.

Each child holds the current modules and data: `load` checks a new set in one child (a bad
set raises `PolicyLoadError` and changes nothing) and brings the idle ones up to date;
a child that missed a load or a `set_document` is brought up to date before its next query.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from gatekeeper.cpus import cores
from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.errors import EngineUnavailable, EvaluationError, PolicyLoadError

# How long loading a set may take in a child (parsing and compiling a large library).
LOAD_SECONDS = 300.0
# How long a query waits for a free child when every one is busy, beyond its own timeout.
READY_SECONDS = 30.0

_OK = "ok"
_LOAD_ERROR = "load-error"
_EVALUATION_ERROR = "evaluation-error"
_UNAVAILABLE = "unavailable"


@dataclass
class _State:
    """What every child must hold: the modules and data of the last load, at a generation,
    and the documents set since, each with the generation it was set at."""

    modules: tuple[RegoModule, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    entry_points: tuple[str, ...] = ()
    generation: int = 0
    documents: dict[str, tuple[int, Any]] = field(default_factory=dict)


class _Child:
    """One child process and what it holds."""

    def __init__(self, inner: str) -> None:
        parent, child = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child.fileno()), inner],
                stdin=subprocess.DEVNULL,
                pass_fds=(child.fileno(),),
                close_fds=True,
            )
        except OSError as exc:
            parent.close()
            raise EngineUnavailable(f"cannot start a policy process: {exc}") from exc
        finally:
            child.close()
        self.connection = Connection(parent.detach())
        self.generation = 0  # of the load it holds (0: none yet)
        self.documents: dict[str, int] = {}  # key: generation of the value it holds

    def call(self, message: tuple[Any, ...], timeout: float, what: str) -> Any:
        """Send `message` and wait up to `timeout` seconds for the answer; on a timeout or a
        broken child, kill it and raise `EvaluationError`."""
        try:
            self.connection.send(message)
            if not self.connection.poll(timeout):
                self.kill()
                raise EvaluationError(
                    f"{what} did not finish within {timeout:g} s; its process was stopped"
                )
            status, value = self.connection.recv()
        except (OSError, EOFError) as exc:
            self.kill()
            raise EvaluationError(f"the policy process stopped during {what}") from exc
        if status == _OK:
            return value
        if status == _LOAD_ERROR:
            raise PolicyLoadError(value)
        if status == _UNAVAILABLE:
            self.kill()
            raise EngineUnavailable(value)
        raise EvaluationError(value)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()
        self.connection.close()

    def stop(self) -> None:
        """Close the connection (the child exits on end of input) and reap it."""
        self.connection.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class IsolatedEngine:
    """The engine named `inner` (`regorus`, `opa`) behind the `Engine` port, evaluating in
    up to `processes` children, each query cut off after `timeout` seconds."""

    def __init__(self, inner: str, *, timeout: float, processes: int | None = None) -> None:
        self.name = inner
        self._inner = inner
        self._timeout = timeout
        self._most = processes if processes is not None else _default_processes()
        self._state = _State()
        self._idle: list[_Child] = []
        self._started = 0
        self._closed = False
        self._available = threading.Condition()
        self._generations = itertools.count(1)
        # Every child started, busy or idle: an engine dropped without `close` stops them.
        self._children: set[_Child] = set()
        weakref.finalize(self, _stop_all, self._children)

    def load(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        entry_points: Sequence[str] = (),
    ) -> None:
        state = _State(tuple(modules), dict(data), tuple(entry_points), next(self._generations), {})
        child = self._checkout(time.monotonic() + READY_SECONDS)
        try:
            self._load(child, state)
        except PolicyLoadError:
            self._checkin(child)  # it still holds the previous set
            raise
        except BaseException:
            self._drop(child)
            raise
        with self._available:
            self._state = state
            stale = list(self._idle)
        self._checkin(child)
        for other in stale:  # children idle now get the new set before a query needs it
            if self._take(other):
                try:
                    self._bring_up_to_date(other)
                except (EvaluationError, EngineUnavailable, PolicyLoadError):
                    self._drop(other)
                    continue
                self._checkin(other)

    def set_document(self, key: str, value: Any) -> None:
        with self._available:
            self._state.documents[key] = (next(self._generations), value)

    def query(self, ref: str, input_document: Mapping[str, Any] | None = None) -> Any:
        child = self._checkout(time.monotonic() + self._timeout + READY_SECONDS)
        try:
            self._bring_up_to_date(child)
            answer = child.call(("query", ref, input_document), self._timeout, "policy evaluation")
        except (EvaluationError, EngineUnavailable, PolicyLoadError) as exc:
            if child.process.poll() is None:
                self._checkin(child)  # an evaluation error: the child is fine
            else:
                self._drop(child)
            if isinstance(exc, PolicyLoadError):  # a set this process loaded: cannot happen
                raise EvaluationError(f"the policy process cannot load the set: {exc}") from exc
            raise
        except BaseException:
            self._drop(child)
            raise
        self._checkin(child)
        return answer

    def close(self) -> None:
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            self._available.notify_all()
        for child in idle:
            child.stop()
            self._children.discard(child)

    @property
    def processes(self) -> int:
        """Children running now (busy or idle)."""
        return self._started

    def _bring_up_to_date(self, child: _Child) -> None:
        with self._available:
            state = self._state
            documents = dict(state.documents)
        if child.generation != state.generation:
            self._load(child, state)
        for key, (generation, value) in documents.items():
            if child.documents.get(key) != generation:
                child.call(("document", key, value), LOAD_SECONDS, "a data update")
                child.documents[key] = generation

    def _load(self, child: _Child, state: _State) -> None:
        message = ("load", state.modules, state.data, state.entry_points)
        child.call(message, LOAD_SECONDS, "loading the policies")
        child.generation = state.generation
        child.documents = {}

    def _checkout(self, deadline: float) -> _Child:
        with self._available:
            while True:
                if self._closed:
                    raise EngineUnavailable("the policy engine is closed")
                if self._idle:
                    return self._idle.pop()
                if self._started < self._most:
                    self._started += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._available.wait(remaining):
                    raise EvaluationError("no policy process was free in time")
        try:
            child = _Child(self._inner)
        except BaseException:
            with self._available:
                self._started -= 1
                self._available.notify()
            raise
        with self._available:
            self._children.add(child)
        return child

    def _take(self, child: _Child) -> bool:
        """Take `child` out of the idle list, if a query has not taken it already."""
        with self._available:
            if child in self._idle:
                self._idle.remove(child)
                return True
            return False

    def _checkin(self, child: _Child) -> None:
        with self._available:
            if not self._closed:
                self._idle.append(child)
                self._available.notify()
                return
        child.stop()

    def _drop(self, child: _Child) -> None:
        if child.process.poll() is None:
            child.kill()
        with self._available:
            self._started -= 1
            self._children.discard(child)
            self._available.notify()


def _stop_all(children: set[_Child]) -> None:
    for child in list(children):
        child.stop()
    children.clear()


def _default_processes() -> int:
    """As many children as the cores this process may use, two to four."""
    return max(2, min(cores(), 4))


def _serve(connection: Connection, inner: str) -> None:
    """The child: answer load, document and query messages until the parent hangs up."""
    from gatekeeper.policy.engines import create_engine

    try:
        engine = create_engine(inner)
    except EngineUnavailable as exc:
        failure: str | None = str(exc)
    else:
        failure = None
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        answer: tuple[str, Any]
        try:
            if failure is not None:
                answer = (_UNAVAILABLE, failure)
            elif message[0] == "query":
                answer = (_OK, engine.query(message[1], message[2]))
            elif message[0] == "document":
                engine.set_document(message[1], message[2])
                answer = (_OK, None)
            elif message[0] == "load":
                engine.load(message[1], message[2], entry_points=message[3])
                answer = (_OK, None)
            else:
                answer = (_EVALUATION_ERROR, f"unknown request {message[0]!r}")
        except PolicyLoadError as exc:
            answer = (_LOAD_ERROR, str(exc))
        except EngineUnavailable as exc:
            answer = (_UNAVAILABLE, str(exc))
        except Exception as exc:  # the parent decides what an evaluation failure means
            text = str(exc) if isinstance(exc, EvaluationError) else f"{type(exc).__name__}: {exc}"
            answer = (_EVALUATION_ERROR, text)
        connection.send(answer)


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), sys.argv[2])
