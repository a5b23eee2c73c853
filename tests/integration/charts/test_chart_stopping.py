"""The chart's grace periods and preStop waits match how the gatekeeper stops on SIGTERM."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.settings import Settings
from tests.integration.charts.test_chart import pod_spec, render

pytest.importorskip("helm_python", reason="the helm extra is not installed")

pytestmark = [pytest.mark.integration]


def _container(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    container: dict[str, Any] = pod_spec(documents, name)["containers"][0]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}


@pytest.mark.parametrize(
    ("deployment", "section", "variable"),
    [
        ("gk-webhook", "webhook", "GATEKEEPER_SERVER__SHUTDOWN_TIMEOUT"),
        ("gk-dashboard", "dashboard", "GATEKEEPER_DASHBOARD__SHUTDOWN_TIMEOUT"),
    ],
)
def test_the_grace_period_covers_the_pre_stop_wait_the_requests_in_flight_and_the_last_commit(
    deployment: str, section: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = render("gk", {section: {"preStopSeconds": 7, "shutdownTimeoutSeconds": 40}})
    spec = pod_spec(documents, deployment)
    container = _container(documents, deployment)
    assert spec["terminationGracePeriodSeconds"] == 7 + 40 + 5
    assert container["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "7"]}}}
    # The timeout reaches the process as the setting it reads.
    monkeypatch.setenv(variable, _env(container)[variable])
    settings = Settings()
    got = settings.server if section == "webhook" else settings.dashboard
    assert got.shutdown_timeout == 40


def test_by_default_the_webhook_gets_25_s_for_reviews_in_flight_within_35_s() -> None:
    documents = render("gk")
    assert pod_spec(documents, "gk-webhook")["terminationGracePeriodSeconds"] == 35
    assert _env(_container(documents, "gk-webhook"))["GATEKEEPER_SERVER__SHUTDOWN_TIMEOUT"] == "25s"
    assert pod_spec(documents, "gk-reconciler")["terminationGracePeriodSeconds"] == 30


def test_kubernetes_own_sleep_action_can_replace_the_sleep_binary() -> None:
    documents = render("gk", {"preStopAction": "sleep"})
    for deployment in ("gk-webhook", "gk-dashboard"):
        lifecycle = _container(documents, deployment)["lifecycle"]
        assert lifecycle == {"preStop": {"sleep": {"seconds": 5}}}


def test_an_unknown_pre_stop_action_is_refused() -> None:
    import helm_python

    with pytest.raises(helm_python.errors.HelmRenderError, match="preStopAction must be"):
        render("gk", {"preStopAction": "wait"})
