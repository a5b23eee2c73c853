"""Shared options: every `--format` and `--engine` is checked by the parser, the same way."""

from __future__ import annotations

import pytest

from gatekeeper.cli import EXIT_USAGE, main
from gatekeeper.cli.options import EngineName, ReportFormat
from gatekeeper.policy.engines import ENGINE_NAMES
from gatekeeper.report.render import FORMATS


def test_the_choices_are_those_of_the_code_they_select() -> None:
    assert tuple(ReportFormat) == FORMATS
    assert tuple(EngineName) == ENGINE_NAMES


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["audit", "verify"], "'text', 'json'"),
        (["audit", "log"], "'text', 'json'"),
        (["status"], "'text', 'json'"),
        (["dev-cluster", "status"], "'text', 'json'"),
        (["policy", "test"], "'text', 'json'"),
        (["policy", "eval", "-p", "p", "-i", "i"], "'text', 'json'"),
        (["policy", "verify", "suite.yaml"], "'text', 'json'"),
        (["verify", "--repo", "r", "--trust", "t"], "'table', 'json'"),
        (["report", "-o", "out"], "'json', 'csv', 'html', 'pdf'"),
    ],
)
def test_a_bad_format_is_a_usage_error_naming_the_allowed_values(
    argv: list[str], allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--format", "xml"]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert "Invalid value for '--format'" in err
    assert "'xml' is not one of" in err
    assert allowed in err


def test_a_bad_engine_is_a_usage_error_naming_the_engines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "test", "--engine", "wasm"]) == EXIT_USAGE
    assert "'regorus', 'opa', 'opa-server'" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("command", ["serve", "dashboard"])
@pytest.mark.parametrize("port", ["0", "70000", "-1", "65536"])
def test_a_port_outside_1_to_65535_is_a_usage_error(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # 70000 used to wrap to 4464; a negative port ended as "unavailable" (3).
    assert main([command, f"--port={port}"]) == 2
    assert "--port" in capsys.readouterr().err
