"""Time one decision of the whole shipped policy library on one Deployment, per engine.

    python bench/policy.py --json [--iterations 2000] [--engines regorus,opa]

Prints `<engine>_median_us` and `<engine>_p99_us` (microseconds per decision, including
building the combined query's result into a Decision), plus the policy count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.errors import EngineUnavailable
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import Provenance, sync_input

ROOT = Path(__file__).resolve().parent.parent

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/name": "web", "gatekeeper.dev/managed": "true"},
    },
    "spec": {
        "replicas": 3,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {
                "securityContext": {"runAsNonRoot": True},
                "containers": [
                    {
                        "name": "web",
                        "image": "registry.example.com/shop/web:1.4.2",
                        "ports": [{"containerPort": 8080}],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "256Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    },
                    {"name": "proxy", "image": "envoyproxy/envoy:latest"},
                ],
            },
        },
    },
}


def measure(engine_name: str, iterations: int) -> dict[str, float]:
    evaluator = PolicyEvaluator.from_paths([ROOT / "policies"], engine=create_engine(engine_name))
    provenance = Provenance(source="apps", commit="0" * 40, verified=True, trusted=True)
    document = sync_input(DEPLOYMENT, provenance=provenance)
    for _ in range(min(200, iterations)):
        evaluator.evaluate(document)
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        evaluator.evaluate(document)
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return {
        f"{engine_name}_median_us": round(statistics.median(samples), 1),
        f"{engine_name}_p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--engines", default="regorus,opa")
    args = parser.parse_args()
    evaluator = PolicyEvaluator.from_paths([ROOT / "policies"], engine=create_engine("regorus"))
    result: dict[str, Any] = {
        "policies": len(evaluator.policy_set.policies),
        "iterations": args.iterations,
    }
    for name in args.engines.split(","):
        try:
            result.update(measure(name, args.iterations))
        except EngineUnavailable as exc:
            result[f"{name}_error"] = str(exc)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
