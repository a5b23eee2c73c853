"""SIGTERM means what Ctrl-C means: the two ways every command is asked to stop.

Kubernetes stops a Pod, CI a job and `kill` a process with SIGTERM, whose default action ends
the process at once: nothing it started is stopped, nothing it was writing is recorded. So
the command line handles both signals the same way, in one of two forms:

- `as_ctrl_c`: SIGTERM raises `KeyboardInterrupt` where the program is, as Ctrl-C does; every
  command runs under it (`gatekeeper.cli.main`), so what cleans up after Ctrl-C (the demo's
  teardown, `dev-cluster up` stopping what it started) cleans up after SIGTERM too, and the
  command exits `INTERRUPTED`.
- `stop_requested`: either signal sets an event that a long-running loop checks between
  steps, for work that must not be cut anywhere (the reconciler records what it applied).

The servers (`serve`, `dashboard`) take both signals over while they run
(`gatekeeper.admission.graceful`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sys import UnraisableHookArgs

# 128 + SIGINT, as shells report a process Ctrl-C ended, and as typer exits on
# KeyboardInterrupt: a command interrupted before it finished.
INTERRUPTED: Final = 130
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def _on_main_thread() -> bool:
    # Only the main thread may set handlers; commands run elsewhere (tests) keep the defaults.
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def as_ctrl_c() -> Iterator[None]:
    """SIGTERM raises `KeyboardInterrupt` inside the block, as Ctrl-C does.

    A signal that lands while Python runs a finaliser or a weak-reference callback (an
    import's module lock, say) raises there, where Python reports the exception and drops
    it: the command would go on as if never asked to stop. Such a dropped interrupt is sent
    again, as SIGTERM, every 10 ms until it is raised in the command's own code.
    """
    if not _on_main_thread():
        yield
        return
    pending = threading.Event()  # an interrupt was dropped and is not raised yet
    in_hook = threading.Event()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if in_hook.is_set():
            return  # raised here it would be dropped at once: the next resend raises it
        pending.clear()
        raise KeyboardInterrupt

    def resend() -> None:
        while pending.wait(0) and not stopped.wait(0.01):
            if pending.is_set():
                os.kill(os.getpid(), signal.SIGTERM)

    def redeliver(unraisable: UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)
            return
        in_hook.set()
        try:
            if not pending.is_set():
                pending.set()
                threading.Thread(target=resend, name="interrupt-resend", daemon=True).start()
        finally:
            in_hook.clear()

    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, interrupt)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = redeliver
    try:
        yield
    finally:
        stopped.set()
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stop_requested(event: threading.Event | None = None) -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set the event (a new one unless given) inside the block, and raise
    nothing: the code that checks the event decides where to stop."""
    stop = event if event is not None else threading.Event()
    if not _on_main_thread():
        yield stop
        return

    def _set(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, _set) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
