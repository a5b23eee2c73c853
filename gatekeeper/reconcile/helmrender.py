"""One Helm chart rendered in a process of its own, under the reconciler's limits.

`helmchart.render_chart` runs `python -m gatekeeper.reconcile.helmrender`, writes the request
(chart folder, values, release settings, limits) as JSON to its input and reads the answer:
a first line `ok`, `error` or `too-large`, then the rendered templates as a JSON object
(`ok`), Helm's message (`error`) or the bytes they came to (`too-large`).

Helm's template language can loop (`range until 100000000`) and build text without bound, and
its library cannot be interrupted from Python. This process is started by `limited`, so its
memory is bounded, and the parent kills it when it runs past its time: a chart that would
exhaust the reconciler only ends this process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def render(request: dict[str, Any]) -> tuple[str, str]:
    """(status, body) of the answer to `request`."""
    import helm_python
    from helm_python import _native

    try:
        with helm_python.Chart.load(Path(request["chart"])) as chart:
            # Chart.render takes no capabilities; the library's own call does.
            rendered = _native.call_string(
                "helm_render",
                chart._raw(),
                json.dumps(request["values"]),
                json.dumps(request["settings"]),
            )
    except helm_python.HelmError as exc:
        return "error", str(exc)
    # What the parent would count against reconciler.limits.maxTotalBytes, counted here so
    # that it never has to hold more than that.
    size = sum(len(text.encode()) for text in json.loads(rendered).values())
    if size > int(request["maxBytes"]):
        return "too-large", str(size)
    return "ok", rendered


def main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    status, body = render(request)
    sys.stdout.buffer.write(status.encode() + b"\n" + body.encode())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
