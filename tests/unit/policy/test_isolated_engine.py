"""The embedded engine in child processes: same answers, and a slow query is cut off."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from gatekeeper.policy.engine import UNDEFINED, RegoModule
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.engines.isolated import IsolatedEngine
from gatekeeper.policy.errors import EvaluationError, PolicyLoadError

RULES = RegoModule(
    path="team/rules.rego",
    source="""package team

import rego.v1

deny contains sprintf("%s is not allowed", [input.kind]) if input.kind in data.blocked
slow contains n if {
	input.kind == "Slow"
	some n in numbers.range(1, 50000000)
	n == -1
}
""",
)
BROKEN = RegoModule(path="team/broken.rego", source="package team\n\ndeny contains msg if {\n")


@pytest.fixture
def engine() -> Iterator[IsolatedEngine]:
    isolated = IsolatedEngine("regorus", timeout=1.0, processes=2)
    isolated.load([RULES], {"blocked": ["Pod"]}, entry_points=["data.team.deny"])
    yield isolated
    isolated.close()


def test_answers_are_the_embedded_engines_answers(engine: IsolatedEngine) -> None:
    inner = create_engine("regorus")
    inner.load([RULES], {"blocked": ["Pod"]}, entry_points=["data.team.deny"])
    for document in ({"kind": "Pod"}, {"kind": "ConfigMap"}):
        assert engine.query("data.team.deny", document) == inner.query("data.team.deny", document)
    assert engine.query("data.team.deny", {"kind": "Pod"}) == ["Pod is not allowed"]
    assert engine.query("data.team.nothing", {}) is UNDEFINED


def test_a_set_that_does_not_load_changes_nothing(engine: IsolatedEngine) -> None:
    with pytest.raises(PolicyLoadError, match=r"team/broken.rego"):
        engine.load([RULES, BROKEN], {"blocked": []})
    assert engine.query("data.team.deny", {"kind": "Pod"}) == ["Pod is not allowed"]


def _ask_each_process(engine: IsolatedEngine, kind: str) -> list[object]:
    """The answer of each of the two children: one is held busy while the other answers, then
    the held one answers (an idle child is taken last in, first out)."""
    held = engine._checkout(time.monotonic() + 30)
    try:
        first = engine.query("data.team.deny", {"kind": kind})
    finally:
        engine._checkin(held)
    return [first, engine.query("data.team.deny", {"kind": kind})]


def test_documents_and_new_sets_reach_every_process(engine: IsolatedEngine) -> None:
    assert _ask_each_process(engine, "Pod") == [["Pod is not allowed"]] * 2
    assert engine.processes == 2
    engine.set_document("blocked", ["Secret"])
    assert _ask_each_process(engine, "Secret") == [["Secret is not allowed"]] * 2
    assert _ask_each_process(engine, "Pod") == [[]] * 2
    engine.load([RULES], {"blocked": ["Service"]})
    assert _ask_each_process(engine, "Secret") == [[]] * 2
    assert _ask_each_process(engine, "Service") == [["Service is not allowed"]] * 2
    assert engine.processes == 2


def test_concurrent_queries_get_the_same_answers(engine: IsolatedEngine) -> None:
    answers: list[object] = []

    def ask() -> None:
        answers.append(engine.query("data.team.deny", {"kind": "Pod"}))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [["Pod is not allowed"]] * 8
    assert 1 <= engine.processes <= 2


def test_a_slow_query_is_cut_off_and_the_next_one_is_answered(engine: IsolatedEngine) -> None:
    started = time.monotonic()
    with pytest.raises(EvaluationError, match=r"did not finish within 1 s"):
        engine.query("data.team.slow", {"kind": "Slow"})
    assert time.monotonic() - started < 5
    assert engine.query("data.team.deny", {"kind": "Pod"}) == ["Pod is not allowed"]


def test_other_threads_run_while_a_query_is_slow(engine: IsolatedEngine) -> None:
    """In-process, the native engine holds Python's lock for the whole evaluation."""
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        with pytest.raises(EvaluationError):
            engine.query("data.team.slow", {"kind": "Slow"})
    finally:
        stop.set()
        ticker.join()
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert len(ticks) > 20 and max(gaps) < 0.5


def test_closing_stops_the_processes() -> None:
    isolated = IsolatedEngine("regorus", timeout=1.0)
    isolated.load([RULES], {"blocked": []})
    children = list(isolated._idle)
    assert children and all(child.process.poll() is None for child in children)
    isolated.close()
    assert all(child.process.poll() is not None for child in children)
