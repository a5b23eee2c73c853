"""Text others chose (paths, actors, messages) prints as it is: never read as Rich markup."""

from __future__ import annotations

import pytest

from gatekeeper.cli import reconcile
from gatekeeper.reconcile.results import PassResult

ODD = "apps/[/x].yaml and [hidden]evil.yaml :x: [bold]"


def test_a_pass_table_shows_a_message_with_brackets_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reconcile._print_results(
        [PassResult(source="apps", outcome="rejected", commit="a" * 40, message=ODD)]
    )
    out = capsys.readouterr().out
    message = "".join(
        line.split("│")[-2].strip() for line in out.splitlines() if line.startswith("│")
    )
    # The column folds the message over lines, at spaces or anywhere: compare without them.
    assert "".join(message.split()) == "".join(ODD.split())


def test_the_status_block_shows_a_result_with_brackets_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reconcile._print_status(
        {
            "source": "apps",
            "synced_commit": None,
            "synced_at": None,
            "result": "[/x]",
            "last_attempt": None,
            "reasons": [ODD],
            "drift": None,
            "health": None,
            "held_at": None,
        }
    )
    out = capsys.readouterr().out
    assert "last attempt   [/x] at -" in out
    assert ODD in out
