"""The chart's notifications and PolicyReports values: passed to the configuration, the
CRDs only on request, and read access to the reports for whoever may view a namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.charts.test_chart import by_name, configuration, render

pytestmark = pytest.mark.integration

REPORTS: dict[str, Any] = {
    "policyReports": {"enabled": True, "installCRD": True, "maxResults": 300},
    "notifications": {
        "targets": [
            {"name": "chat", "type": "slack", "urlFile": "/etc/gatekeeper-notify/slack-url"},
            {"name": "events", "type": "kubernetesEvents", "kinds": ["drift.*"]},
        ]
    },
}


def test_the_values_reach_the_configuration_and_the_crds_are_installed(tmp_path: Path) -> None:
    documents = render("gk", REPORTS)
    settings = configuration(documents, tmp_path)
    assert settings.policy_reports.enabled
    assert settings.policy_reports.max_results == 300
    chat, events = settings.notifications.targets
    assert (chat.type, str(chat.url_file)) == ("slack", "/etc/gatekeeper-notify/slack-url")
    assert events.kinds == ["drift.*"]
    crds = {d["metadata"]["name"] for d in documents if d["kind"] == "CustomResourceDefinition"}
    assert crds == {"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"}
    viewer = by_name(documents, "ClusterRole", "gk-policyreport-viewer")
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert viewer["rules"][0]["verbs"] == ["get", "list", "watch"]


def test_by_default_there_are_no_crds_notifications_or_reports(tmp_path: Path) -> None:
    documents = render("gk")
    settings = configuration(documents, tmp_path)
    assert settings.notifications.targets == []
    assert not settings.policy_reports.enabled
    assert not [d for d in documents if d["kind"] == "CustomResourceDefinition"]


def test_reports_can_be_written_to_crds_another_tool_installed(tmp_path: Path) -> None:
    documents = render("gk", {"policyReports": {"enabled": True}})
    assert configuration(documents, tmp_path).policy_reports.enabled
    assert not [d for d in documents if d["kind"] == "CustomResourceDefinition"]
