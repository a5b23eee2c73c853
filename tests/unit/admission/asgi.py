"""A synchronous test client over `httpx.ASGITransport` that runs the app's lifespan."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import FastAPI


class AsgiClient:
    """Calls the app in-process, on a private event loop, as the API server would."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._lifespan: AbstractAsyncContextManager[Any] | None = None
        self._client: httpx.AsyncClient | None = None

    def __enter__(self) -> AsgiClient:
        self._lifespan = self._app.router.lifespan_context(self._app)
        self._loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self._app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://webhook")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._client is not None and self._lifespan is not None
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self._loop.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        assert self._client is not None, "use the client as a context manager"
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)
