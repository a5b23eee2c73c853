"""Times the reconciler on the local control plane: first sync, no-op resync, drift scan.

    python bench/sync.py --objects 1000 --json
    python bench/sync.py --objects 1000 --cluster-dir .dev-cluster-test --json

One SSH-signed commit with N ConfigMaps (one file each) in a fresh namespace, verified
against a trust policy, checked against the shipped policy library (`policies/`), recorded
in a fresh SQLite audit store and applied as the reconciler identity. Then the same commit
again (nothing to do), the same from a freshly started reconciler, then a pass after 10
objects were edited out of band (drift found, attributed and corrected). Without
`--cluster-dir` a plane is started in a temporary directory and stopped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from machine import machine, ratio

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster import layout, plane
from gatekeeper.kube.client import KubeClient
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.reconcile.gitsource import GitMirror
from gatekeeper.reconcile.reconciler import Reconciler
from gatekeeper.settings import SourceSettings

DRIFTED = 10
# The size the scaled runs are held against (linear: 10x the objects, at most 10x the time).
REFERENCE = 1000


@contextmanager
def _plane(cluster_dir: Path | None, quiet: bool) -> Iterator[plane.ControlPlane]:
    if cluster_dir is not None:
        found = plane.running(layout.Layout(cluster_dir.absolute()))
        if found is None:
            raise SystemExit(f"no control plane runs in {cluster_dir}")
        yield found
        return
    with tempfile.TemporaryDirectory(prefix="bench-sync-plane-") as scratch:
        started = plane.up(
            Path(scratch), progress=lambda m: None if quiet else print(m, file=sys.stderr)
        )
        try:
            yield started
        finally:
            plane.down(Path(scratch))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _signed_repo(root: Path, objects: int) -> tuple[Path, Path]:
    """A repository with one SSH-signed commit of N ConfigMaps, and its trust policy."""
    key = root / "signer"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench@example.com", "-f", str(key)],
        check=True,
    )
    repo = root / "repo"
    apps = repo / "apps"
    apps.mkdir(parents=True)
    for index in range(objects):
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{index:05d}", "labels": {"app": "bench"}},
            "data": {"index": str(index), "payload": "x" * 64},
        }
        (apps / f"cm-{index:05d}.yaml").write_text(yaml.safe_dump(manifest))
    _git(repo.parent, "init", "-q", "-b", "main", str(repo))
    _git(repo, "add", "-A")
    _git(
        repo,
        "-c", "user.name=Bench", "-c", "user.email=bench@example.com",
        "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}",
        "commit", "-q", "-S", "-m", "bench objects",
    )  # fmt: skip
    trust = root / "trust.yaml"
    trust.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "gatekeeper.dev/v1alpha1",
                "kind": "TrustPolicy",
                "mode": "strict",
                "signers": [
                    {
                        "name": "bench",
                        "emails": ["bench@example.com"],
                        "ssh": [(root / "signer.pub").read_text().strip()],
                    }
                ],
                "rules": [{"paths": ["**"], "signers": ["*"]}],
            }
        )
    )
    return repo, trust


def _timed(reconciler: Reconciler, name: str) -> tuple[float, Any]:
    started = time.perf_counter()
    result = reconciler.reconcile(name)
    return time.perf_counter() - started, result


def run_once(running: plane.ControlPlane, objects: int, work: Path) -> dict[str, Any]:
    """One commit of `objects` ConfigMaps: first sync, no-op resyncs, drift scan."""
    policies = Path(__file__).resolve().parent.parent / "policies"
    root = work / f"n{objects}-{secrets.token_hex(2)}"
    root.mkdir()
    repo, trust = _signed_repo(root, objects)
    namespace = f"bench-{secrets.token_hex(4)}"
    admin = config.new_client_from_config(config_file=str(running.kubeconfig("admin")))
    core = client.CoreV1Api(admin)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    engine = create_database_engine(f"sqlite:///{root / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    kube = KubeClient.from_kubeconfig(running.kubeconfig("reconciler"))
    evaluator = PolicyEvaluator.from_paths([policies], engine=create_engine("regorus"))
    source = SourceSettings(
        name=namespace, repo=str(repo), path="apps", trust=trust, namespace=namespace
    )

    def new_reconciler() -> Reconciler:
        mirror = GitMirror(url=str(repo), ref="main", trust_file=trust, cache_dir=root / "mirrors")
        return Reconciler(
            git={source.name: mirror},
            kube=kube,
            engine=evaluator,
            store=store,
            sources=[source],
            identity="reconciler",
            work_dir=root,
        )

    reconciler = new_reconciler()
    restarted = new_reconciler()
    try:
        first_s, first = _timed(reconciler, source.name)
        noop_s, noop = _timed(reconciler, source.name)
        # A replica that just started has nothing cached: it renders the synced commit again.
        cold_s, cold = _timed(restarted, source.name)
        for index in range(DRIFTED):
            core.patch_namespaced_config_map(
                f"cm-{index:05d}",
                namespace,
                {"data": {"payload": "edited"}},
                field_manager="kubectl-edit",
            )
        drift_s, scan = _timed(reconciler, source.name)
    finally:
        reconciler.close()
        restarted.close()
        kube.close()
        store.close()
        core.delete_namespace(namespace)
        admin.close()
    ok = (
        first.outcome == "applied"
        and noop.applied == 0
        and cold.applied == 0
        and scan.drifted == DRIFTED
    )
    return {
        "ok": ok,
        "objects": objects,
        "policies": evaluator.policy_set.size,
        "first_sync_s": round(first_s, 3),
        "first_sync_outcome": first.outcome,
        "first_sync_applied": first.applied,
        "noop_resync_s": round(noop_s, 3),
        "noop_resync_applied": noop.applied,
        "noop_resync_after_restart_s": round(cold_s, 3),
        "noop_resync_after_restart_applied": cold.applied,
        "drift_scan_s": round(drift_s, 3),
        "drift_found": scan.drifted,
        "drift_edited": DRIFTED,
    }


def _size(objects: int) -> str:
    return f"{objects // 1000}k" if objects % 1000 == 0 else str(objects)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument(
        "--reference",
        type=int,
        default=REFERENCE,
        help="with --objects above this, also time this many before and after, for the ratios",
    )
    parser.add_argument("--cluster-dir", type=Path, help="state directory of a running plane")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    report: dict[str, Any] = machine()
    with _plane(args.cluster_dir, args.json) as running, tempfile.TemporaryDirectory() as work:
        scaled = args.objects > args.reference
        references = []
        if scaled:
            references.append(run_once(running, args.reference, Path(work)))
        figures = run_once(running, args.objects, Path(work))
        if scaled:
            references.append(run_once(running, args.reference, Path(work)))
    ok = bool(figures.pop("ok")) and all(reference.pop("ok") for reference in references)
    report.update(figures)
    if references:
        label = f"{_size(args.objects)}_vs_{_size(args.reference)}"
        for key in ("first_sync", "noop_resync", "noop_resync_after_restart", "drift_scan"):
            floor = statistics.median(reference[f"{key}_s"] for reference in references)
            report[f"{key}_{_size(args.reference)}_s"] = round(floor, 3)
            report[f"{key}_{label}"] = ratio(figures[f"{key}_s"], floor)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>36}: {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
