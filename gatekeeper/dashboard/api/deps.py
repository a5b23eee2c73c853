"""Dependencies of the dashboard's routes: its parts, and the caller, authenticated per verb."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated, Final

from fastapi import Depends, Request

from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.auth import Authenticator, Principal, Verb
from gatekeeper.dashboard.errors import BadRequest, Unauthenticated
from gatekeeper.dashboard.integrity import IntegrityMonitor
from gatekeeper.dashboard.queries import Queries
from gatekeeper.dashboard.reports import Reports
from gatekeeper.settings import Settings

SESSION_COOKIE: Final = "gatekeeper_session"


@dataclass(frozen=True)
class DashboardParts:
    """What `create_app` built, kept on `app.state.parts`."""

    settings: Settings
    store: AuditStore
    authenticator: Authenticator
    integrity: IntegrityMonitor
    queries: Queries
    reports: Reports
    signer: Signer | None = None
    # Set when the server begins to stop (SIGTERM): from then on it is not ready.
    stopping: threading.Event = field(default_factory=threading.Event)


def parts_of(request: Request) -> DashboardParts:
    parts: DashboardParts = request.app.state.parts
    return parts


def bearer_token(request: Request) -> str | None:
    """The caller's token: the Authorization header, else the page's sign-in cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be `Bearer <token>`")
        return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        if request.method not in ("GET", "HEAD") and not _same_origin(request):
            # A cookie rides along with requests other sites make: writes need proof.
            raise BadRequest("a signed-in page must send its writes from its own origin")
        return cookie
    return None


def refuse_cross_site(request: Request) -> None:
    """Refuse a form another site made the browser send (sign-in, sign-out); requests that
    carry neither header come from programs, not from a page elsewhere."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site == "cross-site" or (site is None and origin is not None and not _same_origin(request)):
        raise BadRequest("this form must be sent from the dashboard's own pages")


def _same_origin(request: Request) -> bool:
    """The browser says the write comes from one of this site's own pages."""
    if request.headers.get("sec-fetch-site") == "same-origin":
        return True
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    return origin is not None and host is not None and origin.split("://", 1)[-1] == host


def caller(request: Request, verb: Verb, *also: Verb) -> Principal:
    """The authenticated caller, allowed `verb` and every verb of `also`; 401 or 403
    otherwise (naming the first verb refused)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("sign in: send `Authorization: Bearer <token>`")
    parts = parts_of(request)
    principal = parts.authenticator.authenticate(token)
    for each in (verb, *also):
        parts.authenticator.authorize(principal, each)
    return principal


def _reader(request: Request) -> Principal:
    return caller(request, "get")


def _maker(request: Request) -> Principal:
    return caller(request, "create")


def _bundler(request: Request) -> Principal:
    # A bundle hands over the records themselves: making one is reading them too.
    return caller(request, "create", "get")


def _parts(request: Request) -> DashboardParts:
    return parts_of(request)


Reader = Annotated[Principal, Depends(_reader)]
Maker = Annotated[Principal, Depends(_maker)]
Bundler = Annotated[Principal, Depends(_bundler)]
Parts = Annotated[DashboardParts, Depends(_parts)]
