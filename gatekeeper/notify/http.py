"""HTTP delivery: one POST, no redirects followed, errors said without the URL's secrets."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Final

from gatekeeper.notify.errors import NotifyError

_USER_AGENT: Final = "gitops-gatekeeper-notify"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would send the body (and its signature) somewhere never configured."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def where(url: str) -> str:
    """The URL as logs may show it: scheme and host only (Slack's path is a credential)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
    """POST `body`; the status when it is 2xx, else `NotifyError`."""
    if not url.startswith(("http://", "https://")):
        raise NotifyError(f"{where(url)}: only http and https URLs are delivered to")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, data=body, method="POST", headers={"User-Agent": _USER_AGENT, **headers}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise NotifyError(
            f"{where(url)} answered HTTP {exc.code}" + (f": {detail}" if detail else "")
        ) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotifyError(f"{where(url)} is unreachable: {reason}") from exc
    if not 200 <= status < 300:
        raise NotifyError(f"{where(url)} answered HTTP {status}")
    return status
