"""The reference webhook of `admission.py`: answers every AdmissionReview at once, records nothing.

Served by uvicorn over TLS as `gatekeeper serve` is, it shows what a webhook costs kube-apiserver
before it does any work: the call, TLS and HTTP. Objects named `probe*` are refused, so the
benchmark can tell when kube-apiserver has started calling it.
"""

from __future__ import annotations

import json
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    status, content = 200, b'{"status": "ok"}'
    if scope["path"] == "/validate":
        request = json.loads(b"".join(chunks))["request"]
        name = (request.get("object") or {}).get("metadata", {}).get("name", "")
        response: dict[str, Any] = {"uid": request["uid"], "allowed": not name.startswith("probe")}
        if not response["allowed"]:
            response["status"] = {"code": 403, "message": "probe refused"}
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
        content = json.dumps({**review, "response": response}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
