"""Renderers run under the reconciler's limits, in processes of their own.

`limited` starts a command through a few lines of this Python that limit what it may allocate
(`RLIMIT_DATA`, which the Go runtime's heap counts against: `reconciler.limits.renderMemoryBytes`)
and the size of any file it writes (`RLIMIT_FSIZE`: one byte over `maxTotalBytes`, so output
sent to a file stops there), then become it. kubectl (kustomize) and the Helm renderer
(`helmrender`) both run this way; their callers bound the time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final

from gatekeeper.settings.sources import ReconcilerLimits

_PRELUDE: Final = (
    "import os, resource, sys; data, size = int(sys.argv[1]), int(sys.argv[2]); "
    "resource.setrlimit(resource.RLIMIT_DATA, (data, data)); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (size, size)); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)

# How a Go renderer (Helm's library, kubectl) says it ran out of its memory limit: the
# runtime's own words, and a new thread whose stack no longer fits.
GO_OUT_OF_MEMORY: Final = (
    "out of memory",
    "cannot allocate memory",
    "pthread_create failed",
    "failed to create new OS thread",
)


def limited(command: Sequence[str], limits: ReconcilerLimits) -> list[str]:
    """`command` (its first item a path to run) started under `limits`' memory and file size."""
    data, size = limits.render_memory_bytes, limits.max_total_bytes + 1
    return [sys.executable, "-I", "-S", "-c", _PRELUDE, str(data), str(size), *command]
