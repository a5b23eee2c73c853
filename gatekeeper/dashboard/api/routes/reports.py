"""Making reports (verb `create`) and bundles (`create` and `get`: a bundle holds the
records), and reading the reports made (verb `get`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from gatekeeper.dashboard.api.deps import Bundler, Maker, Parts, Reader
from gatekeeper.dashboard.api.params import Paged, page_of
from gatekeeper.dashboard.errors import NotFoundError
from gatekeeper.dashboard.filters import parse_filters
from gatekeeper.dashboard.queries import record_json
from gatekeeper.dashboard.reports import GENERATED
from gatekeeper.report.filters import ReportFilters
from gatekeeper.report.render import MEDIA_TYPES

router = APIRouter(tags=["reports"])
_REPORT_ID = Annotated[str, Path(max_length=40, pattern=r"^[0-9A-Za-z-]+$")]


class ReportRequest(BaseModel):
    """What a report or bundle covers: the filters of the listings, all optional."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(None, max_length=64)
    until: str | None = Field(None, max_length=64)
    source: str | None = Field(None, max_length=512)
    namespace: str | None = Field(None, max_length=512)
    kind: str | None = Field(None, max_length=512)
    objectKind: str | None = Field(None, max_length=512)
    actor: str | None = Field(None, max_length=512)
    commit: str | None = Field(None, max_length=64)

    def filters(self, parts: Any) -> ReportFilters:
        given = {k: v for k, v in self.model_dump().items() if v is not None}
        filters = parse_filters(given)
        parts.queries.check(filters)
        return filters


@router.post("/reports", status_code=201, summary="Make a signed report in every format")
def make_report(parts: Parts, principal: Maker, request: ReportRequest) -> dict[str, Any]:
    made = parts.reports.make_report(request.filters(parts), principal)
    made["links"] = {fmt: f"/api/v1/reports/{made['id']}?format={fmt}" for fmt in made["files"]}
    return made


@router.get("/reports", summary="Reports and bundles made, newest first, from the audit log")
def list_reports(
    request: Request, parts: Parts, _: Reader, params: Annotated[Paged, Query()]
) -> dict[str, Any]:
    query = dict(request.query_params)
    parse_filters(query, allowed=())  # refuses any parameter but paging, naming it
    return page_of(parts, query, ReportFilters(kinds=(GENERATED,)), record_json)


@router.get("/reports/{report_id}", summary="A made report in one format; its signature beside")
def get_report(
    parts: Parts,
    _: Reader,
    report_id: _REPORT_ID,
    format: Annotated[Literal["json", "csv", "html", "pdf"], Query()] = "json",
    signature: Annotated[bool, Query()] = False,
) -> FileResponse:
    path, signature_file = parts.reports.file(report_id, format)
    if signature:
        if signature_file is None:
            raise NotFoundError(f"report {report_id} was made without a signing key")
        return FileResponse(signature_file, media_type="application/json")
    headers = {"Content-Disposition": f'attachment; filename="report-{report_id}.{format}"'}
    if signature_file is not None:
        headers["Link"] = (
            f'</api/v1/reports/{report_id}?format={format}&signature=true>; rel="signature"'
        )
    return FileResponse(path, media_type=MEDIA_TYPES[format], headers=headers)


@router.post("/bundles", summary="Make a signed evidence bundle (zip) to verify offline")
def make_bundle(parts: Parts, principal: Bundler, request: ReportRequest) -> FileResponse:
    path, made = parts.reports.make_bundle(request.filters(parts), principal)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"evidence-{made['id']}.zip",
        headers={"X-Gatekeeper-Bundle": made["id"], "X-Gatekeeper-Record": str(made["record"])},
    )
