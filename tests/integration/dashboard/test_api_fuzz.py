"""The report API as served: fuzzed from its own OpenAPI schema, and its TLS certificate renewed."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from gatekeeper.admission.server import ServerThread, bind
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.server import build_server
from tests.fixtures.webhook import make_webhook_tls
from tests.integration.dashboard.conftest import READER, build_app, seed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("fuzz")
    engine = create_database_engine(f"sqlite:///{folder / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    seed(store)
    app, integrity, signer = build_app(folder, store)
    store.checkpoint(signer)
    integrity.refresh(full=True)
    thread = ServerThread(build_server(app, host="127.0.0.1", port=0), bind("127.0.0.1"))  # type: ignore[arg-type]
    thread.start()
    yield f"http://127.0.0.1:{thread.port}"
    thread.stop()
    engine.dispose()


def _schema() -> schemathesis.BaseSchema:
    """The API's own OpenAPI document (building it touches no database)."""
    folder = Path(tempfile.mkdtemp(prefix="gatekeeper-schema-"))
    store = AuditStore(create_database_engine(f"sqlite:///{folder / 'empty.db'}"))
    try:
        document = build_app(folder, store)[0].openapi()
    finally:
        store.close()
        shutil.rmtree(folder)
    return schemathesis.openapi.from_dict(document)


OPERATIONS = [result.ok() for result in _schema().get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_input_makes_the_api_fail(operation: object, api_url: str) -> None:
    @given(case=operation.as_strategy())  # type: ignore[attr-defined]
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=api_url, headers={"Authorization": f"Bearer {READER}"})
        assert response.status_code < 500, (response.status_code, response.text[:300])
        case.validate_response(response, checks=[not_a_server_error])

    check()


def test_a_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    app, _integrity, _signer = build_app(tmp_path, AuditStore(engine))
    first = make_webhook_tls(tmp_path / "tls")
    server = build_server(
        app,
        host="127.0.0.1",
        port=0,
        cert_file=first.cert_file,
        key_file=first.key_file,
        tls_reload_interval=0.1,
    )
    thread = ServerThread(server, bind("127.0.0.1"))
    thread.start()
    try:
        served = ssl.get_server_certificate(("127.0.0.1", thread.port))
        renewed = make_webhook_tls(tmp_path / "renewed")
        shutil.copyfile(renewed.key_file, first.key_file)
        shutil.copyfile(renewed.cert_file, first.cert_file)
        deadline = time.monotonic() + 10
        while ssl.get_server_certificate(("127.0.0.1", thread.port)) == served:
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            time.sleep(0.1)
        assert ssl.get_server_certificate(("127.0.0.1", thread.port)) == (
            renewed.cert_file.read_text()
        )
    finally:
        thread.stop()
        engine.dispose()
