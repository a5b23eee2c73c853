"""The chart's migrations, run as the chart renders them against real databases: with SQLite
every Pod that opens the store migrates its own file first (the webhook Pods crash-looped on
`the audit tables do not exist` when only the Job migrated, on an emptyDir of its own); with
PostgreSQL the hook Job migrates the shared database once, from nothing but the URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.audit.errors import SchemaMissing
from gatekeeper.cli.context import open_current_store, open_store
from gatekeeper.settings import load_settings
from tests.integration.charts.test_chart import by_name, pod_spec, render

ROOT = Path(__file__).resolve().parents[3]
# Every Deployment whose Pods open the audit store.
STORE_USERS = ("gk-webhook", "gk-reconciler", "gk-dashboard")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    return subprocess.run(
        [sys.executable, "-m", "gatekeeper.cli", *args],
        capture_output=True,
        check=False,
        text=True,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


def _config(documents: list[dict[str, Any]], folder: Path) -> Path:
    path = folder / "gatekeeper.yaml"
    path.write_text(by_name(documents, "ConfigMap", "gk-config")["data"]["gatekeeper.yaml"])
    return path


def _opens(config: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the servers do at start: the webhook reads the log's head (refused on a database
    that was never migrated), the dashboard opens the store only at the current schema."""
    monkeypatch.setenv("GATEKEEPER_DATABASE__URL", url)
    settings = load_settings(config)
    store = open_store(settings)
    try:
        store.head()
    finally:
        store.close()
    open_current_store(settings).close()


@pytest.mark.parametrize("name", STORE_USERS)
def test_with_sqlite_each_pod_migrates_the_file_it_then_opens(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = render("gk")
    spec = pod_spec(documents, name)
    (init,) = [c for c in spec["initContainers"] if c["name"] == "db-upgrade"]
    main = spec["containers"][0]
    # The same emptyDir at the same place in both, so the same file.
    data = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}["data"]
    assert {"name": "data", "mountPath": data} in main["volumeMounts"]
    config = _config(documents, tmp_path)
    assert load_settings(config).database.url == f"sqlite:///{data}/gatekeeper.db"
    # The emptyDir, here a folder of the test's.
    url = f"sqlite:///{tmp_path / 'data' / 'gatekeeper.db'}"
    (tmp_path / "data").mkdir()
    with pytest.raises(SchemaMissing, match="the audit tables do not exist"):
        _opens(config, url, monkeypatch)

    done = _run(init["args"], {"GATEKEEPER_CONFIG": str(config), "GATEKEEPER_DATABASE__URL": url})
    assert done.returncode == 0, done.stderr
    _opens(config, url, monkeypatch)


@pytest.mark.postgres
def test_with_postgresql_the_hook_job_migrates_the_shared_database_once_for_all(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = render("gk", {"database": {"url": postgres_url}})
    job = by_name(documents, "Job", "gk-db-upgrade")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    # A pre-install hook has the URL and nothing else: no configuration file, no volume.
    assert [e["name"] for e in container["env"]] == ["GATEKEEPER_DATABASE__URL"]
    config = _config(documents, tmp_path)
    with pytest.raises(SchemaMissing):
        _opens(config, postgres_url, monkeypatch)
    for _ in range(2):  # an upgrade runs it again
        done = _run(container["args"], {"GATEKEEPER_DATABASE__URL": postgres_url})
        assert done.returncode == 0, done.stderr
    for name in STORE_USERS:
        spec = pod_spec(documents, name)
        assert not [c for c in spec.get("initContainers", []) if c["name"] == "db-upgrade"]
        _opens(config, postgres_url, monkeypatch)
