"""The web page in a real browser (Debian's chromium through Playwright) on a real server."""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.admission.server import ServerThread, bind
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.errors import WitnessError
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.integrity import IntegrityMonitor
from gatekeeper.dashboard.server import build_server
from gatekeeper.report.filters import ReportFilters
from gatekeeper.report.model import build_report
from gatekeeper.report.render import render
from tests.integration.audit.test_tamper import tamper
from tests.integration.dashboard.conftest import MAKER, READER, build_app, seed

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.xdist_group("browser")]

CHROMIUM = shutil.which("chromium")
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    url: str
    store: AuditStore
    integrity: IntegrityMonitor


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium must be installed under CI=true (make services)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    seed(store)
    app, integrity, signer = build_app(tmp_path, store)
    store.checkpoint(signer)
    integrity.refresh(full=True)
    thread = ServerThread(build_server(app, host="127.0.0.1", port=0), bind("127.0.0.1"))
    thread.start()
    try:
        yield Site(url=f"http://127.0.0.1:{thread.port}", store=store, integrity=integrity)
    finally:
        thread.stop()
        engine.dispose()


def _signed_in(
    browser: Any, site: Site, width: int = 1280, height: int = 900, token: str = READER
) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{site.url}/events?namespace=shop")
    assert "/login" in page.url
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/events?namespace=shop")
    return page


def test_a_wrong_token_is_refused_and_nothing_is_shown(browser: Any, site: Site) -> None:
    page = browser.new_page()
    page.goto(f"{site.url}/")
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert "the token is not known" in page.inner_text("[role=alert]")
    assert page.locator("table.records").count() == 0
    page.close()


def test_signing_in_returns_to_the_page_asked_for_with_its_filters(
    browser: Any, site: Site
) -> None:
    page = _signed_in(browser, site)
    subjects = page.locator("table.records td.subject").all_inner_texts()
    assert subjects and all("/shop/" in subject for subject in subjects)
    assert "namespace=shop" in page.inner_text(".stated")
    csv_link = page.get_attribute("a:text('CSV')", "href")
    assert csv_link is not None and "namespace=shop" in csv_link
    exported = page.request.get(f"{site.url}{csv_link}")
    assert exported.status == 200, exported.text()
    assert '"namespace": "shop"' in next(csv.reader(io.StringIO(exported.text())))[0]
    page.close()


def test_the_overview_shows_integrity_and_charts(browser: Any, site: Site) -> None:
    page = _signed_in(browser, site)
    page.goto(f"{site.url}/")
    assert page.get_attribute(".integrity", "data-status") == "verified"
    assert page.locator("svg.chart").count() == 5
    labels = [page.get_attribute(f"svg.chart-{key}", "aria-label") for key in ("changes", "drift")]
    assert labels[0] is not None and labels[0].startswith("Changes applied: 2 in 30 days")
    assert labels[1] is not None and labels[1].startswith("Drift detected: 1 in 30 days")
    page.close()


def test_a_record_drills_down_to_its_chain_proof(browser: Any, site: Site) -> None:
    page = _signed_in(browser, site)
    page.click("table.records a:text('5')")
    page.wait_for_url(f"{site.url}/events/5")
    proof = page.inner_text(".proof")
    assert "matches" in proof and "record 4" in proof and "verified" in proof
    page.close()


@pytest.mark.parametrize(("width", "height"), [(900, 900), (390, 844)])
def test_every_page_fits_the_screen_without_sideways_scrolling(
    browser: Any, site: Site, width: int, height: int
) -> None:
    page = _signed_in(browser, site, width, height)
    pages = ("/", "/events", "/events/4", "/sources/apps", "/controls", "/rollbacks", "/changes")
    for path in (*pages, "/incidents", "/exceptions"):
        page.goto(f"{site.url}{path}")
        overflow = page.evaluate(
            "() => [...document.querySelectorAll('body *')]"
            ".filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > "
            "document.documentElement.clientWidth + 1).map(e => e.tagName + '.' + e.className)"
        )
        assert overflow == [], (path, overflow)
    page.close()


def test_a_tampered_log_is_announced_on_every_page(browser: Any, site: Site) -> None:
    tamper(site.store, "UPDATE audit_events SET actor = 'nobody' WHERE seq = 3")
    site.integrity.refresh(full=True)
    page = _signed_in(browser, site)
    banner = page.locator(".integrity")
    assert banner.get_attribute("data-status") == "tampered"
    assert "first bad record is #3" in banner.inner_text()
    assert page.locator("table.records .badge.status-verified").count() == 0
    assert page.locator("table.records .badge.status-not-verified").count() > 0
    page.close()


def test_an_incident_shows_break_glass_detection_and_correction_linked(
    browser: Any, site: Site
) -> None:
    page = _signed_in(browser, site)
    page.goto(f"{site.url}/incidents")
    row = page.locator("table.incidents tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert cells[1].startswith("break-glass")
    assert cells[2] == "ConfigMap/shop/settings"
    assert "INC-7 → fix €" in cells[3]
    assert (cells[4], cells[5]) == ("#5", "#6")
    page.goto(f"{site.url}/changes?source=apps")
    assert page.locator("article.change").count() == 1
    assert "#2 admission.allowed" in page.inner_text("article.change")
    page.close()


def test_a_bad_filter_on_a_page_is_explained_on_a_page(browser: Any, site: Site) -> None:
    page = _signed_in(browser, site)
    answer = page.goto(f"{site.url}/events?since=last-tuesday")
    assert answer is not None and answer.status == 400
    assert "since: 'last-tuesday' is not an ISO 8601 date" in page.inner_text("[role=alert]")
    page.close()


def test_a_report_maker_makes_a_signed_report_and_downloads_its_pdf(
    browser: Any, site: Site
) -> None:
    reader = _signed_in(browser, site)
    reader.goto(f"{site.url}/reports")
    assert reader.locator("form[action='/reports']").count() == 0
    reader.close()
    page = _signed_in(browser, site, token=MAKER)
    page.goto(f"{site.url}/reports")
    page.fill("form[action='/reports'] input[name=source]", "apps")
    page.click("text=Make report")
    page.wait_for_url(f"{site.url}/reports#*")
    row = page.locator("table.made tbody tr").first
    assert "report · 5 record(s)" in row.inner_text()
    assert "source=apps" in row.inner_text()
    with page.expect_download() as download:
        page.click("table.made tbody tr >> text=pdf >> nth=0")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    page.close()


@pytest.mark.parametrize("width", [900, 390])
def test_the_html_report_reads_without_sideways_scrolling(
    browser: Any, site: Site, width: int
) -> None:
    report = build_report(site.store, ReportFilters(), verifier=site.integrity.verifier)
    html = render(report, "html").decode("utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_content(html)
    widest = page.evaluate("() => document.documentElement.scrollWidth")
    assert widest <= width, widest
    assert "INC-7 → fix €" in page.inner_text("body")
    page.close()


def test_a_drift_record_shows_where_the_cluster_differs_from_git(browser: Any, site: Site) -> None:
    record = site.store.append(
        NewEvent(
            kind="drift.detected",
            actor="gatekeeper",
            subject="apps/Deployment/shop/web",
            source="apps",
            payload={
                "diff": [
                    {"path": "spec.replicas", "desired": 2, "live": 5},
                    {
                        "path": "spec.template.spec.containers[name=web].image",
                        "desired": "web:1.4.2",
                        "live": "web:debug",
                    },
                ]
            },
        )
    )
    page = _signed_in(browser, site)
    page.goto(f"{site.url}/events/{record.seq}")
    rows = page.locator("table.diff tbody tr").all_inner_texts()
    assert rows[0].split("\t") == ["spec.replicas", "2", "5"]
    assert "containers[name=web].image" in rows[1] and '"web:debug"' in rows[1]
    page.close()


def test_a_sync_record_shows_its_commits_signers_and_what_it_changed(
    browser: Any, site: Site
) -> None:
    record = site.store.append(
        NewEvent(
            kind="sync.applied",
            actor="gatekeeper",
            subject="source/apps",
            source="apps",
            commit="c" * 40,
            payload={
                "commits": [
                    {
                        "sha": "c" * 40,
                        "author": "Alice <alice@example.com>",
                        "signer": "alice",
                        "key": "SHA256:abc",
                        "format": "ssh",
                        "rules": [{"rule": 0, "paths": ["**"]}],
                    }
                ],
                "changed": [
                    {
                        "object": "ConfigMap/shop/settings",
                        "path": "apps/cm.yaml",
                        "digest_before": "sha256:1",
                        "digest_after": "sha256:2",
                    }
                ],
                "unchanged": 2,
            },
        )
    )
    page = _signed_in(browser, site)
    page.goto(f"{site.url}/events/{record.seq}")
    text = page.inner_text("main")
    assert "Alice <alice@example.com>" in text and "SHA256:abc" in text
    assert "ConfigMap/shop/settings" in text and "sha256:2" in text
    page.close()


def test_a_witness_that_could_not_be_read_is_said_on_every_page(browser: Any, site: Site) -> None:
    class Unborn:
        location = "configmap:gatekeeper-system/gatekeeper-audit-witness"

        def read(self) -> object:
            raise WitnessError("no ConfigMap labelled gatekeeper.dev/audit-witness=x")

        def close(self) -> None:
            return None

    site.integrity.witness = Unborn()  # type: ignore[assignment]
    site.integrity.refresh(full=True)
    page = _signed_in(browser, site)
    assert "witness of the checkpoints was not checked" in page.inner_text(".integrity")
    assert page.get_attribute(".integrity", "data-status") == "verified"
    page.close()
