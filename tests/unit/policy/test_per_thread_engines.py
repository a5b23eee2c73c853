"""Per-thread engines are only ever freed by the thread that built them."""

from __future__ import annotations

import gc
import threading

import regorus

from gatekeeper.policy.engine import PerThreadEngines, Snapshot


def build(snapshot: Snapshot) -> regorus.Engine:
    engine = regorus.Engine()
    engine.add_policy("p.rego", "package p\nx := 1")
    return engine


def test_an_owner_dropped_on_another_thread_leaves_engines_to_their_threads() -> None:
    owner: PerThreadEngines[regorus.Engine] | None = PerThreadEngines(
        build=build, refresh_data=lambda engine, snapshot: None
    )
    built: list[int] = []
    release = threading.Event()
    done = threading.Event()

    def worker() -> None:
        assert owner is not None
        built.append(id(owner.get()))
        release.wait(10)
        # A later owner on this thread sweeps the dead one's engine, here, on its own thread.
        successor: PerThreadEngines[regorus.Engine] = PerThreadEngines(
            build=build, refresh_data=lambda engine, snapshot: None
        )
        successor.get()
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    while not built:
        threading.Event().wait(0.01)
    owner = None
    gc.collect()
    release.set()
    assert done.wait(10)
    thread.join(10)
    assert not thread.is_alive()


def test_each_thread_gets_its_own_engine_and_keeps_it() -> None:
    engines: PerThreadEngines[regorus.Engine] = PerThreadEngines(
        build=build, refresh_data=lambda engine, snapshot: None
    )
    main_engine = engines.get()
    assert engines.get() is main_engine
    same: list[bool] = []
    thread = threading.Thread(target=lambda: same.append(engines.get() is main_engine))
    thread.start()
    thread.join(10)
    assert same == [False]
