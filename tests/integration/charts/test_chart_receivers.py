"""The chart's push receivers: a port on the reconciler, a Service to it, the configuration
the gatekeeper accepts, and the Secret of credentials and hook secrets mounted read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.charts.test_chart import by_name, configuration, pod_spec, render

pytestmark = pytest.mark.integration

VALUES = {
    "reconciler": {
        "secretName": "gk-git",
        "receivers": {
            "enabled": True,
            "hooks": [
                {"provider": "github", "secretFile": "/etc/gatekeeper-secrets/github-hook"},
                {"provider": "gitlab", "name": "lab", "secretFile": "/etc/gatekeeper-secrets/lab"},
            ],
        },
    },
    "config": {
        "sources": [
            {
                "name": "apps",
                "repo": "https://git.example.com/x.git",
                "trust": "t.yaml",
                "credentials": {
                    "https": {"username": "ci", "tokenFile": "/etc/gatekeeper-secrets/token"}
                },
            }
        ]
    },
}


def test_receivers_get_a_port_a_service_and_their_configuration(tmp_path: Path) -> None:
    documents = render("gk", VALUES)
    spec = pod_spec(documents, "gk-reconciler")
    container = spec["containers"][0]
    assert container["ports"] == [{"name": "receivers", "containerPort": 8090, "protocol": "TCP"}]
    mount = {"name": "reconciler-secrets", "mountPath": "/etc/gatekeeper-secrets", "readOnly": True}
    assert mount in container["volumeMounts"]
    volume = next(v for v in spec["volumes"] if v["name"] == "reconciler-secrets")
    assert volume["secret"] == {"secretName": "gk-git", "defaultMode": 0o400}
    service = by_name(documents, "Service", "gk-receivers")
    assert service["spec"]["ports"] == [
        {"name": "receivers", "port": 80, "targetPort": "receivers", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "reconciler"
    settings = configuration(documents, tmp_path)
    assert settings.receivers.enabled
    assert settings.receivers.host == "0.0.0.0"
    assert [hook.path_name for hook in settings.receivers.hooks] == ["github", "lab"]
    assert settings.sources[0].credentials is not None


def test_without_receivers_nothing_is_added() -> None:
    documents = render("gk", {})
    assert not [d for d in documents if d["metadata"]["name"] == "gk-receivers"]
    container = pod_spec(documents, "gk-reconciler")["containers"][0]
    assert "ports" not in container
    assert all(m["name"] != "reconciler-secrets" for m in container["volumeMounts"])
