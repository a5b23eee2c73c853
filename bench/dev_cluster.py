"""Times the local control plane: `up` to ready on a warm cache, and the cached build's duration.

    python bench/dev_cluster.py --runs 3 --json

Each run starts a fresh plane in a temporary state directory (new data, keys, tokens), waits
until /readyz answers and the RBAC objects are applied, then stops it. The build is not
repeated: its duration is read from the cache's build-info.json, written when it was built.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gatekeeper.devcluster import plane
from gatekeeper.devcluster.binaries import KUBE_APISERVER, cache_root, find_binaries


def _build_info() -> dict[str, object] | None:
    found = find_binaries()[KUBE_APISERVER]
    if found is None:
        return None
    info_file = found.path.parent / "build-info.json"
    if found.origin != "cache" or not info_file.exists():
        return {"origin": found.origin, "path": str(found.path)}
    info: dict[str, object] = json.loads(info_file.read_text())
    info["origin"] = "cache"
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    def quiet(message: str) -> None:
        if not args.json:
            print(f"  {message}", file=sys.stderr)

    # A first `up` may build; it is not timed as a warm start.
    if find_binaries()[KUBE_APISERVER] is None:
        plane.ensure_binaries(progress=quiet)
    seconds = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="gk-bench-plane-") as folder:
            state = Path(folder) / "plane"
            started = time.monotonic()
            try:
                plane.up(state, progress=quiet)
                seconds.append(time.monotonic() - started)
            finally:
                plane.down(state)
    result = {
        "runs": args.runs,
        "up_to_ready_seconds": [round(s, 2) for s in seconds],
        "up_to_ready_median_seconds": round(statistics.median(seconds), 2),
        "build": _build_info(),
        "cache_dir": str(cache_root()),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
