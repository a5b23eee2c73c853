"""SIGTERM as Ctrl-C: an interrupt that a finaliser swallowed still stops the command."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from gatekeeper.cli import signals

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers are set on the main thread only",
)


class _RaisesWhenCollected:
    def __del__(self) -> None:
        # What Ctrl-C's handler, or SIGTERM's, does when the signal lands in a finaliser.
        raise KeyboardInterrupt


def _idle(seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.001)


def test_an_interrupt_a_finaliser_dropped_is_delivered_again() -> None:
    with pytest.raises(KeyboardInterrupt), signals.as_ctrl_c():
        _RaisesWhenCollected()  # collected at once: its KeyboardInterrupt is dropped there
        _idle()


def test_other_dropped_exceptions_still_reach_the_previous_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda args: seen.append(args.exc_value))

    class RaisesValueError:
        def __del__(self) -> None:
            raise ValueError("from a finaliser")

    with signals.as_ctrl_c():
        RaisesValueError()
    assert len(seen) == 1 and isinstance(seen[0], ValueError)
    assert sys.unraisablehook is not None


def test_sigterm_raises_keyboard_interrupt_in_the_block() -> None:
    with pytest.raises(KeyboardInterrupt), signals.as_ctrl_c():
        signals.signal.raise_signal(signals.signal.SIGTERM)
        _idle()


def test_the_block_puts_the_hook_and_the_handler_back() -> None:
    hook, handler = sys.unraisablehook, signals.signal.getsignal(signals.signal.SIGTERM)
    with signals.as_ctrl_c():
        assert sys.unraisablehook is not hook
    assert sys.unraisablehook is hook
    assert signals.signal.getsignal(signals.signal.SIGTERM) is handler
