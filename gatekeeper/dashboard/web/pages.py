"""The web page: sign-in, overview, records, sources and controls, as HTML over the API's reads."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from gatekeeper.audit.events import Record
from gatekeeper.dashboard import evidence
from gatekeeper.dashboard.activity import Activity
from gatekeeper.dashboard.api.deps import SESSION_COOKIE, caller, parts_of, refuse_cross_site
from gatekeeper.dashboard.auth import Principal
from gatekeeper.dashboard.controls import CONTROLS
from gatekeeper.dashboard.errors import DashboardError, Forbidden, Unauthenticated
from gatekeeper.dashboard.filters import (
    FILTER_NAMES,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)
from gatekeeper.dashboard.queries import record_json
from gatekeeper.dashboard.reports import GENERATED
from gatekeeper.dashboard.web.charts import bar_chart
from gatekeeper.report.filters import ReportFilters

router = APIRouter(include_in_schema=False)
_PERIOD_DAYS: Final = 30

environment = Environment(
    loader=PackageLoader("gatekeeper.dashboard.web", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["short"] = lambda text, n=12: str(text or "")[:n]


class SignInRequired(DashboardError):
    """The page needs a signed-in user; answered with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


def _viewer(request: Request) -> Principal:
    try:
        return caller(request, "get")
    except Unauthenticated as exc:
        raise SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        ) from exc


def _page(request: Request, template: str, principal: Principal, **context: Any) -> HTMLResponse:
    parts = parts_of(request)
    state = parts.integrity.state
    integrity = state.as_json(parts.queries.head_seq(state), datetime.now(UTC))
    html = environment.get_template(template).render(
        user=principal.user, integrity=integrity, path=request.url.path, **context
    )
    return HTMLResponse(html)


_HEADINGS: Final = {
    400: "That query cannot be answered",
    403: "Not allowed",
    404: "Not found",
    503: "Unavailable for now",
}


def error_page(
    request: Request, status: int, message: str, *, heading: str | None = None
) -> HTMLResponse:
    """A page-shaped answer for a page-shaped request; the API answers JSON instead."""
    html = environment.get_template("error.html.j2").render(
        status=status,
        heading=heading or _HEADINGS.get(status, "Something went wrong"),
        message=message,
        back=request.url.path,
        user=None,
        integrity=None,
        path=request.url.path,
    )
    return HTMLResponse(html, status_code=status)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    # No message from the link: a page of the real site must not show words a link wrote
    # ("paste your token at ..."). Only a failed sign-in below says what went wrong.
    return _login_page(next, error="")


def _login_page(next: str, *, error: str) -> HTMLResponse:
    html = environment.get_template("login.html.j2").render(
        next=_safe_next(next), error=error, user=None, integrity=None, path="/login"
    )
    return HTMLResponse(html, status_code=401 if error else 200)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=8192)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    refuse_cross_site(request)
    parts = parts_of(request)
    try:
        principal = parts.authenticator.authenticate(token.strip())
        parts.authenticator.authorize(principal, "get")
    except (Unauthenticated, Forbidden) as exc:
        return _login_page(next, error=str(exc))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token.strip(),
        max_age=parts.settings.dashboard.session_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    refuse_cross_site(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect to another one."""
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/")
def overview(request: Request, days: int = _PERIOD_DAYS) -> HTMLResponse:
    principal = _viewer(request)
    parts = parts_of(request)
    days = min(max(days, 1), 366)
    last = datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    activity: Activity = request.app.state.activity
    activity.refresh()
    series = activity.series(first, last)
    kinds = activity.kinds(first, last)
    sources = parts.queries.sources()
    return _page(
        request,
        "overview.html.j2",
        principal,
        charts=[(item, bar_chart(item)) for item in series],
        kinds=sorted(kinds.items()),
        sources=sources,
        first=first,
        last=last,
        days=days,
    )


@dataclasses.dataclass(frozen=True)
class _Listing:
    """One page of a filtered table, newest first, and the links around it."""

    params: dict[str, str]
    records: list[Record]
    next_link: str | None
    export: str


def _listing(
    request: Request, filters: ReportFilters, params: dict[str, str], *, default_limit: int
) -> _Listing:
    page = parts_of(request).queries.page(
        filters,
        after=decode_cursor(params.get("after"), filters),
        limit=parse_limit(params, default=default_limit),
        newest_first=True,
    )
    query = {key: value for key, value in params.items() if key not in ("after", "limit")}
    next_link = None
    if page.next_cursor is not None:
        cursor = encode_cursor(page.next_cursor, filters)
        next_link = "?" + urllib.parse.urlencode({**query, "after": cursor})
    kinds = {"kind": ",".join(filters.kinds)} if filters.kinds else {}
    export = urllib.parse.urlencode({**query, **kinds})
    return _Listing(params, page.records, next_link, export)


def _given(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if v != ""}


def _events_page(
    request: Request, principal: Principal, *, title: str, fixed_kinds: tuple[str, ...] = ()
) -> HTMLResponse:
    params = _given(request)
    if fixed_kinds:
        params.pop("kind", None)
    filters = parse_filters(params, allowed=FILTER_NAMES)
    if fixed_kinds:
        filters = dataclasses.replace(filters, kinds=fixed_kinds)
    listing = _listing(request, filters, params, default_limit=50)
    integrity = parts_of(request).integrity.state
    return _page(
        request,
        "events.html.j2",
        principal,
        title=title,
        records=[record_json(record, integrity) for record in listing.records],
        filters=filters.as_json(),
        values=params,
        allowed=[name for name in FILTER_NAMES if not (fixed_kinds and name == "kind")],
        next_link=listing.next_link,
        export=listing.export,
    )


@router.get("/events")
def events(request: Request) -> HTMLResponse:
    return _events_page(request, _viewer(request), title="Audit records")


@router.get("/rollbacks")
def rollbacks(request: Request) -> HTMLResponse:
    return _events_page(request, _viewer(request), title="Rollbacks", fixed_kinds=("rollback",))


@router.get("/exceptions")
def exceptions(request: Request) -> HTMLResponse:
    return _events_page(
        request, _viewer(request), title="Break-glass exceptions", fixed_kinds=("breakglass",)
    )


def _evidence_page(request: Request, *, changes: bool) -> HTMLResponse:
    principal = _viewer(request)
    parts = parts_of(request)
    params = _given(request)
    allowed = (
        ("since", "until", "source", "actor", "commit")
        if changes
        else ("since", "until", "source", "namespace", "objectKind", "actor")
    )
    base = parse_filters(params, allowed=allowed)
    filters = evidence.change_filters(base) if changes else evidence.incident_filters(base)
    listing = _listing(request, filters, params, default_limit=25)
    integrity = parts.integrity.state
    if changes:
        reconciler = parts.settings.admission.reconciler_identity
        items = [
            evidence.change_json(r, parts.store, integrity, reconciler=reconciler)
            for r in listing.records
        ]
    else:
        found = [evidence.incident_json(r, parts.store, integrity) for r in listing.records]
        items = [item for item in found if item is not None]
    return _page(
        request,
        "changes.html.j2" if changes else "incidents.html.j2",
        principal,
        items=items,
        filters=base.as_json(),
        values=params,
        allowed=allowed,
        export=listing.export,
        next_link=listing.next_link,
    )


@router.get("/changes")
def changes_page(request: Request) -> HTMLResponse:
    return _evidence_page(request, changes=True)


@router.get("/incidents")
def incidents_page(request: Request) -> HTMLResponse:
    return _evidence_page(request, changes=False)


@router.get("/events/{seq}")
def record(request: Request, seq: Annotated[int, Path(ge=1, le=2**62)]) -> HTMLResponse:
    principal = _viewer(request)
    parts = parts_of(request)
    detail = parts.queries.record(seq, parts.integrity.state)
    return _page(request, "record.html.j2", principal, detail=detail)


@router.get("/sources/{name}")
def source_timeline(request: Request, name: Annotated[str, Path(max_length=128)]) -> HTMLResponse:
    principal = _viewer(request)
    parts = parts_of(request)
    filters = parse_filters({"source": name})
    page = parts.queries.page(filters, after=None, limit=200, newest_first=True)
    integrity = parts.integrity.state
    steps = [record_json(record, integrity) for record in page.records]
    return _page(request, "source.html.j2", principal, name=name, steps=steps)


def _may_create(request: Request, principal: Principal) -> bool:
    try:
        parts_of(request).authenticator.authorize(principal, "create")
    except DashboardError:
        return False
    return True


@router.get("/reports")
def reports_page(request: Request) -> HTMLResponse:
    principal = _viewer(request)
    parts = parts_of(request)
    page = parts.queries.page(
        ReportFilters(kinds=(GENERATED,)), after=None, limit=50, newest_first=True
    )
    integrity = parts.integrity.state
    return _page(
        request,
        "reports.html.j2",
        principal,
        made=[record_json(record, integrity) for record in page.records],
        may_create=_may_create(request, principal),
        allowed=FILTER_NAMES,
        values={},
    )


def _form_filters(request: Request, form: Mapping[str, Any]) -> ReportFilters:
    given = {k: str(v) for k, v in form.items() if k in FILTER_NAMES and str(v).strip()}
    filters = parse_filters(given)
    parts_of(request).queries.check(filters)
    return filters


@router.post("/reports")
async def make_report_from_page(request: Request) -> Response:
    principal = caller(request, "create")
    form = await request.form()
    filters = _form_filters(request, form)
    made = await run_in_threadpool(parts_of(request).reports.make_report, filters, principal)
    return RedirectResponse(f"/reports#{made['id']}", status_code=303)


@router.post("/bundles")
async def make_bundle_from_page(request: Request) -> Response:
    principal = caller(request, "create", "get")
    form = await request.form()
    filters = _form_filters(request, form)
    path, made = await run_in_threadpool(parts_of(request).reports.make_bundle, filters, principal)
    return FileResponse(path, media_type="application/zip", filename=f"evidence-{made['id']}.zip")


@router.get("/controls")
def controls(request: Request) -> HTMLResponse:
    principal = _viewer(request)
    return _page(request, "controls.html.j2", principal, controls=[c.as_json() for c in CONTROLS])


def _iso_day(moment: date) -> str:
    return moment.isoformat()


def _duration(seconds: float | None) -> str:
    """`4 min 10 s`, `10 h 24 min`, `3 d 2 h`: how long, to two units."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if whole >= size or (name == "s" and not parts):
            parts.append(f"{whole // size} {name}")
            whole %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


environment.filters["day"] = _iso_day
environment.filters["duration"] = _duration
