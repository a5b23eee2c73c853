"""Times the admission webhook alone under load, and its cost as seen through kube-apiserver.

    python bench/admission.py --json [--seconds 10] [--rate 500] [--creates 300]

(a) `gatekeeper serve` (TLS, shipped policy library, SQLite audit store, recording on) in a
subprocess on loopback, loaded with `wrk` (Debian package `wrk`) at a fixed request rate:
a mix of allowed requests (a ConfigMap by a human, the reconciler applying a verified
Deployment) and denied ones (a human editing a managed Deployment). Then without the rate
limit, for the most requests per second one process serves.

(b) A fresh local control plane: ConfigMaps created as admin, one at a time, in three
namespaces in turn, so all three see the same noise: one behind the gatekeeper, one behind
`empty_webhook.py` (what any webhook costs before it does any work), one behind none.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from machine import machine, ratio

from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster.pki import CertificateAuthority
from gatekeeper.devcluster.webhookclient import CLIENT_NAME
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey

ROOT = Path(__file__).resolve().parent.parent
# admission.isolatePolicies of the webhook measured (--policies-in-process turns it off).
ISOLATE_POLICIES = [True]
RECONCILER = "reconciler"
COMMIT = "5e" * 20

WRK_SCRIPT = r"""
local bodies = {}
local delay_ms = 0
local counter = 0

function init(args)
  delay_ms = tonumber(args[1])
  for i = 2, #args do
    local file = io.open(args[i], "rb")
    bodies[#bodies + 1] = file:read("*a")
    file:close()
  end
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", "/validate", {["Content-Type"] = "application/json"}, body)
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _deployment(namespace: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [
                        {
                            "name": "web",
                            "image": "registry.example.com/web:1.4.2",
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def _review(
    operation: str, user: str, obj: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    subject = obj or old or {}
    group, _, version = subject["apiVersion"].rpartition("/")
    kind = subject["kind"]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "00000000-0000-4000-8000-000000000000",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
            "namespace": subject["metadata"]["namespace"],
            "name": subject["metadata"]["name"],
            "operation": operation,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": old,
        },
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gatekeeper(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gatekeeper.cli import run; run()", *args]


@contextmanager
def _webhook(
    folder: Path,
    database_url: str | None = None,
    workers: int = 1,
    synchronous: str = "full",
    client_ca: Path | None = None,
) -> Iterator[tuple[int, bytes, str, int]]:
    """`gatekeeper serve` over TLS with a seeded ledger; yields (port, CA PEM, namespace, pid).

    With `client_ca`, the server requires kube-apiserver's client certificate from that CA
    (`server.clientCaFile`, `server.clientNames`), as a deployed webhook does."""
    namespace = "shop"
    url = database_url or f"sqlite:///{folder / 'audit.db'}"
    config = folder / "gatekeeper.yaml"
    settings: dict[str, Any] = {
        "database": {"url": url, "sqliteSynchronous": synchronous},
        "policies": {"paths": [str(ROOT / "policies")]},
        "admission": {
            "reconcilerIdentity": RECONCILER,
            "guardedKinds": ["Deployment"],
            "isolatePolicies": ISOLATE_POLICIES[0],
        },
    }
    if client_ca is not None:
        settings["server"] = {"clientCaFile": str(client_ca), "clientNames": [CLIENT_NAME]}
    config.write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    subprocess.run(
        _gatekeeper("--config", str(config), "db", "upgrade"),
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    store = AuditStore(create_database_engine(url))
    manifest = _deployment(namespace)
    ledger = Ledger(store)
    ledger.record_commit("apps", COMMIT, signer="alice", key_id="F00D", format="openpgp")
    ledger.record_desired(
        "apps", COMMIT, [DesiredObject(ObjectKey.of(manifest), "apps/web.yaml", manifest)]
    )
    store.close()
    ca = _server_certificate(folder)
    port = _free_port()
    process = subprocess.Popen(
        _gatekeeper(
            "--config",
            str(config),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tls-cert-file",
            str(folder / "tls.crt"),
            "--tls-key-file",
            str(folder / "tls.key"),
            "--workers",
            str(workers),
        ),
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(verify=False) as http:
            while True:
                try:
                    if http.get(f"https://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gatekeeper serve did not start")
                time.sleep(0.2)
        yield port, ca.cert_pem, namespace, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _server_certificate(folder: Path) -> CertificateAuthority:
    """`tls.crt` and `tls.key` for 127.0.0.1 in `folder` (made once, shared by both webhooks)."""
    ca_file = folder / "ca.crt"
    if ca_file.exists():
        return CertificateAuthority(ca_file.read_bytes(), (folder / "ca.key").read_bytes())
    ca = CertificateAuthority.create("admission bench CA")
    issued = ca.issue_server("127.0.0.1", ips=("127.0.0.1",), dns_names=())
    (folder / "tls.crt").write_bytes(issued.cert_pem)
    (folder / "tls.key").write_bytes(issued.key_pem)
    ca_file.write_bytes(ca.cert_pem)
    (folder / "ca.key").write_bytes(ca.key_pem)
    return ca


def _bodies(folder: Path, namespace: str) -> dict[str, list[Path]]:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "notes", "namespace": namespace},
        "data": {"a": "1"},
    }
    live = contract.annotate(_deployment(namespace), source="apps", commit=COMMIT)
    live["metadata"].update({"uid": "1", "resourceVersion": "7"})
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 5
    reviews = {
        "allow-configmap": _review("CREATE", "alice", config_map),
        "allow-reconciler": _review("CREATE", RECONCILER, live),
        "deny-managed": _review("UPDATE", "alice", edited, live),
    }
    files = {}
    for name, review in reviews.items():
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(review))
    return {
        "allow": [files["allow-configmap"], files["allow-reconciler"]],
        "deny": [files["deny-managed"]],
        "mixed": list(files.values()),
    }


def _wrk(
    port: int, bodies: list[Path], *, seconds: float, connections: int, delay_ms: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(int(seconds), 1)}s",
                "--timeout",
                "5s",
                "-s",
                script.name,
                f"https://127.0.0.1:{port}/validate",
                "--",
                str(delay_ms),
                *[str(body) for body in bodies],
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in output.splitlines() if x.startswith("WRK-JSON "))
    raw = json.loads(line.removeprefix("WRK-JSON "))
    return {
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "errors": raw["errors"] + raw["non2xx"],
        "loadgen_cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    }


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process and its worker children have used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(_cpu_seconds(int(kid)) for kid in kids)


async def _open_loop(
    port: int, bodies: list[Path], *, rate: float, seconds: float, connections: int = 32
) -> dict[str, float]:
    """Requests sent on a fixed schedule over kept-alive TLS connections, whatever the
    answers' pace (open loop); each latency is counted from the request's scheduled time, so
    waiting for a free connection counts too."""
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port, ssl=context))
    messages = []
    for body in bodies:
        content = body.read_bytes()
        head = (
            "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(content)}\r\n\r\n"
        )
        messages.append(head.encode() + content)
    latencies: list[float] = []
    failures = 0

    async def send(index: int, scheduled: float) -> None:
        nonlocal failures
        reader, writer = await pool.get()
        writer.write(messages[index % len(messages)])
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        latencies.append(loop.time() - scheduled)
        pool.put_nowait((reader, writer))
        if b" 200 " not in status:
            failures += 1

    total = int(rate * seconds)
    cpu_began = time.process_time()
    began = loop.time() + 0.05
    tasks = []
    for index in range(total):
        scheduled = began + index / rate
        wait = scheduled - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(send(index, scheduled)))
    await asyncio.gather(*tasks)
    finished = loop.time()
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "rps": total / (finished - began),
        "requests": total,
        "errors": failures,
        "loadgen_cpu_s": time.process_time() - cpu_began,
    }


def _paced_wrk(
    port: int, pid: int, bodies: list[Path], *, rate: float, seconds: float
) -> dict[str, float]:
    """wrk at about `rate` requests/s: 8 connections, each pausing after every answer so that
    together they send `rate`; with the server's CPU time per request."""
    connections = 8
    delay_ms = max(1, round(connections * 1000 / rate))
    before = _cpu_seconds(pid)
    run = _wrk(port, bodies, seconds=seconds, connections=connections, delay_ms=delay_ms)
    run["server_cpu_ms_per_request"] = (_cpu_seconds(pid) - before) / run["requests"] * 1000
    return run


def measure_webhook(
    folder: Path,
    *,
    seconds: float,
    rate: float,
    database_url: str | None,
    workers: int,
    synchronous: str,
    rounds: int,
) -> dict[str, Any]:
    with (
        _webhook(folder, database_url, workers, synchronous) as (port, _, namespace, pid),
        _empty_webhook(folder, workers=workers) as (empty_port, empty_pid),
    ):
        bodies = _bodies(folder, namespace)
        # Warm every worker thread's policy engine and the ledger cache first.
        asyncio.run(_open_loop(port, bodies["mixed"], rate=rate, seconds=2))
        asyncio.run(_open_loop(empty_port, bodies["mixed"], rate=rate, seconds=2))
        cpu_before = _cpu_seconds(pid)
        paced = {
            name: asyncio.run(_open_loop(port, bodies[name], rate=rate, seconds=seconds))
            for name in ("mixed", "allow", "deny")
        }
        cpu = _cpu_seconds(pid) - cpu_before
        served = sum(run["requests"] for run in paced.values())
        half = asyncio.run(_open_loop(port, bodies["mixed"], rate=rate / 2, seconds=seconds))
        python_cpu = sum(run["loadgen_cpu_s"] for run in (*paced.values(), half))
        python_requests = served + half["requests"]
        result: dict[str, Any] = {
            "webhook_p50_ms": round(paced["mixed"]["p50_ms"], 2),
            "webhook_p99_ms": round(paced["mixed"]["p99_ms"], 2),
            "webhook_rps": round(paced["mixed"]["rps"], 1),
            "webhook_allow_p99_ms": round(paced["allow"]["p99_ms"], 2),
            "webhook_deny_p99_ms": round(paced["deny"]["p99_ms"], 2),
            "webhook_half_rate_p50_ms": round(half["p50_ms"], 2),
            "webhook_half_rate_p99_ms": round(half["p99_ms"], 2),
            "webhook_errors": sum(run["errors"] for run in (*paced.values(), half)),
            "webhook_cpu_ms_per_request": round(cpu / served * 1000, 3),
            "loadgen_python_cpu_ms_per_request": round(python_cpu / python_requests * 1000, 3),
        }
        if shutil.which("wrk") is None:
            print("wrk is not installed: no closed-loop figures", file=sys.stderr)
            return result
        result.update(
            _wrk_figures(
                folder, bodies["mixed"], (port, pid), (empty_port, empty_pid), seconds, rounds
            )
        )
    return result


def _wrk_figures(
    folder: Path,
    bodies: list[Path],
    gatekeeper: tuple[int, int],
    empty: tuple[int, int],
    seconds: float,
    rounds: int,
) -> dict[str, Any]:
    """Closed loop for the highest rate, then both servers at half of the gatekeeper's,
    taking turns, for latency and CPU per request beside the empty webhook's."""
    flat_out = _wrk(gatekeeper[0], bodies, seconds=seconds, connections=16, delay_ms=0)
    empty_flat_out = _wrk(empty[0], bodies, seconds=seconds, connections=16, delay_ms=0)
    target = flat_out["rps"] / 2
    runs: dict[str, list[dict[str, float]]] = {"gatekeeper": [], "empty": []}
    for _ in range(rounds):
        for which, (port, pid) in (("gatekeeper", gatekeeper), ("empty", empty)):
            runs[which].append(_paced_wrk(port, pid, bodies, rate=target, seconds=seconds))

    def median(which: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[which])

    cpu, empty_cpu = (median(w, "server_cpu_ms_per_request") for w in ("gatekeeper", "empty"))
    loadgen = sum(r["loadgen_cpu_s"] for rs in runs.values() for r in rs)
    requests = sum(r["requests"] for rs in runs.values() for r in rs)
    return {
        "webhook_max_rps": round(flat_out["rps"], 1),
        "webhook_max_rps_p99_ms": round(flat_out["p99_ms"], 2),
        "empty_webhook_max_rps": round(empty_flat_out["rps"], 1),
        "webhook_half_max_target_rps": round(target, 1),
        "webhook_half_max_rps": round(median("gatekeeper", "rps"), 1),
        "webhook_half_max_p50_ms": round(median("gatekeeper", "p50_ms"), 2),
        "webhook_half_max_p99_ms": round(median("gatekeeper", "p99_ms"), 2),
        "empty_webhook_half_max_p99_ms": round(median("empty", "p99_ms"), 2),
        "webhook_half_max_errors": sum(r["errors"] for r in runs["gatekeeper"]),
        "cpu_ms_per_review": round(cpu, 3),
        "cpu_ms_per_request_empty_webhook": round(empty_cpu, 3),
        "cpu_per_review_vs_empty": ratio(cpu, empty_cpu),
        "loadgen_cpu_ms_per_request": round(loadgen / requests * 1000, 3),
        "loadgen_cpu_share_of_server": ratio(loadgen / requests * 1000, (cpu + empty_cpu) / 2),
    }


def measure_apiserver(
    folder: Path,
    *,
    creates: int,
    database_url: str | None,
    workers: int,
    synchronous: str,
    cluster_dir: Path | None,
) -> dict[str, Any]:
    from kubernetes import client, config

    from gatekeeper.devcluster import layout, plane

    state = folder / "plane"
    if cluster_dir is not None:
        control = plane.running(layout.Layout(cluster_dir.absolute()))
        if control is None:
            raise SystemExit(f"no control plane runs in {cluster_dir}")
    else:
        control = plane.up(state, progress=lambda message: None)
    try:
        api = config.new_client_from_config(config_file=str(control.kubeconfig()))
        # Both webhooks require kube-apiserver's client certificate, as a deployed one does.
        client_ca = control.webhook_client_ca_file
        authority = CertificateAuthority(
            client_ca.read_bytes(), control.layout.webhook_client_ca_key.read_bytes()
        )
        issued = authority.issue_client(CLIENT_NAME)
        probe_cert = (folder / "client.crt", folder / "client.key")
        probe_cert[0].write_bytes(issued.cert_pem)
        probe_cert[1].write_bytes(issued.key_pem)
        with (
            _webhook(folder / "webhook", database_url, workers, synchronous, client_ca) as (
                port,
                ca_pem,
                _,
                _,
            ),
            _empty_webhook(
                folder / "webhook", workers=workers, client_ca=client_ca, probe_cert=probe_cert
            ) as (empty_port, _),
        ):
            return _time_creates(
                api,
                client,
                {"gatekeeper": port, "empty": empty_port},
                ca_pem,
                creates,
                probe_cert,
            )
    finally:
        if cluster_dir is None:
            plane.down(state)


@contextmanager
def _empty_webhook(
    folder: Path,
    *,
    workers: int,
    client_ca: Path | None = None,
    probe_cert: tuple[Path, Path] | None = None,
) -> Iterator[tuple[int, int]]:
    """`empty_webhook.py` under uvicorn with `workers` processes and the same certificate;
    with `client_ca`, only clients with a certificate from it get through the handshake.
    Yields its port and pid."""
    _server_certificate(folder)
    port = _free_port()
    tls_client = (
        ["--ssl-ca-certs", str(client_ca), "--ssl-cert-reqs", str(int(ssl.CERT_REQUIRED))]
        if client_ca is not None
        else []
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(__file__).resolve().parent),
            "empty_webhook:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--ssl-certfile",
            str(folder / "tls.crt"),
            "--ssl-keyfile",
            str(folder / "tls.key"),
            *tls_client,
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if probe_cert is not None:
            context.load_cert_chain(*probe_cert)
        with httpx.Client(verify=context) as http:
            while True:
                try:
                    http.get(f"https://127.0.0.1:{port}/")
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the empty webhook did not start") from None
                    time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _registration(name: str, port: int, ca_pem: bytes, namespace: str) -> dict[str, Any]:
    """A ValidatingWebhookConfiguration sending ConfigMap writes in `namespace` to `port`."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "validate.gatekeeper.dev",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/validate",
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": ["configmaps"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {"matchLabels": {"bench.gatekeeper.dev/ns": namespace}},
                "failurePolicy": "Fail",
                "sideEffects": "NoneOnDryRun",
                "timeoutSeconds": 5,
                "matchPolicy": "Equivalent",
                "admissionReviewVersions": ["v1"],
            }
        ],
    }


def _time_creates(
    api: Any,
    client: Any,
    ports: dict[str, int],
    ca_pem: bytes,
    creates: int,
    probe_cert: tuple[Path, Path],
) -> dict[str, Any]:
    """ConfigMaps created one at a time in three namespaces in turn: behind the gatekeeper,
    behind the empty webhook, behind none."""
    core = client.CoreV1Api(api)
    suffix = secrets.token_hex(3)
    namespaces = {which: f"bench-{which}-{suffix}" for which in ("gatekeeper", "empty", "none")}
    for name in namespaces.values():
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name, labels={"bench.gatekeeper.dev/ns": name})
            )
        )
    registrations = client.AdmissionregistrationV1Api(api)
    for which, port in ports.items():
        registrations.create_validating_webhook_configuration(
            client.V1ValidatingWebhookConfiguration.from_dict(
                _registration(namespaces[which], port, ca_pem, namespaces[which])
            )
        )
    gatekeeper_port = ports["gatekeeper"]

    def scrape() -> dict[str, float]:
        # An open path: no client certificate needed.
        text = httpx.get(f"https://127.0.0.1:{gatekeeper_port}/metrics", verify=False).text
        totals = {"reviewed": 0.0, "seconds": 0.0, "answered": 0.0}
        for line in text.splitlines():
            value = line.rsplit(" ", 1)[-1]
            if line.startswith("gatekeeper_admission_requests_total{"):
                totals["reviewed"] += float(value)
            elif line.startswith("gatekeeper_admission_duration_seconds_sum"):
                totals["seconds"] = float(value)
            elif line.startswith("gatekeeper_admission_duration_seconds_count"):
                totals["answered"] = float(value)
        return totals

    def empty_webhook_called() -> bool:
        probe = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="probe"))
        try:
            core.create_namespaced_config_map(namespaces["empty"], probe, dry_run="All")
        except client.ApiException as exc:
            return bool(exc.status == 403)
        return False

    deadline = time.monotonic() + 30
    probe = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="probe"))
    while scrape()["reviewed"] == 0 or not empty_webhook_called():
        if time.monotonic() > deadline:
            raise SystemExit("kube-apiserver never called the webhooks")
        core.create_namespaced_config_map(namespaces["gatekeeper"], probe, dry_run="All")
        time.sleep(0.1)

    timings: dict[str, list[float]] = {which: [] for which in namespaces}
    turns = list(namespaces)
    before: dict[str, float] = {}
    for index in range(creates + 20):
        if index == 20:
            before = scrape()
        shift = index % len(turns)
        for which in turns[shift:] + turns[:shift]:
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"c{index}"), data={"i": str(index)}
            )
            started = time.perf_counter()
            core.create_namespaced_config_map(namespaces[which], body)
            elapsed = time.perf_counter() - started
            if index >= 20:
                timings[which].append(elapsed * 1000)
    after = scrape()
    for which in ports:
        registrations.delete_validating_webhook_configuration(namespaces[which])
    for name in namespaces.values():
        core.delete_namespace(name)
    p50 = {which: statistics.median(values) for which, values in timings.items()}
    answered = after["answered"] - before["answered"]
    # What each webhook adds: the median of the differences within each turn, where the
    # three creates ran back to back under the same noise.
    added = statistics.median(
        w - n for w, n in zip(timings["gatekeeper"], timings["none"], strict=True)
    )
    added_empty = statistics.median(
        e - n for e, n in zip(timings["empty"], timings["none"], strict=True)
    )
    return {
        "apiserver_added_ms": round(added, 3),
        "apiserver_added_ms_empty_webhook": round(added_empty, 3),
        "apiserver_added_vs_empty": ratio(added, added_empty),
        "apiserver_p50_ms_with": round(p50["gatekeeper"], 2),
        "apiserver_p50_ms_without": round(p50["none"], 2),
        "apiserver_ratio": round(p50["gatekeeper"] / p50["none"], 3),
        "apiserver_p50_ms_empty_webhook": round(p50["empty"], 2),
        "apiserver_ratio_empty_webhook": round(p50["empty"] / p50["none"], 3),
        "apiserver_webhook_answer_mean_ms": round(
            (after["seconds"] - before["seconds"]) / answered * 1000, 3
        )
        if answered
        else None,
        "apiserver_creates": creates,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--rate", type=float, default=500.0, help="paced request rate")
    parser.add_argument("--creates", type=int, default=300, help="ConfigMaps per namespace")
    parser.add_argument("--skip-apiserver", action="store_true")
    parser.add_argument("--skip-webhook", action="store_true", help="only part (b)")
    parser.add_argument(
        "--database-url", help="audit store of the webhook (empty); a fresh SQLite file by default"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="gatekeeper serve --workers"
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["full", "normal"],
        default="full",
        help="database.sqliteSynchronous of the webhook's SQLite store",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="turns of gatekeeper and empty webhook under wrk"
    )
    parser.add_argument("--cluster-dir", type=Path, help="state directory of a running plane")
    parser.add_argument(
        "--policies-in-process",
        action="store_true",
        help="admission.isolatePolicies false: policies evaluated in the server's own process",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    ISOLATE_POLICIES[0] = not args.policies_in_process
    result: dict[str, Any] = {
        **machine(),
        "isolate_policies": ISOLATE_POLICIES[0],
        "workers": args.workers,
        "sqlite_synchronous": args.sqlite_synchronous,
    }
    with tempfile.TemporaryDirectory(prefix="gk-bench-admission-") as folder:
        base = Path(folder)
        (base / "a").mkdir()
        if not args.skip_webhook:
            result.update(
                measure_webhook(
                    base / "a",
                    seconds=args.seconds,
                    rate=args.rate,
                    database_url=args.database_url,
                    workers=args.workers,
                    synchronous=args.sqlite_synchronous,
                    rounds=args.rounds,
                )
            )
        if not args.skip_apiserver:
            (base / "b" / "webhook").mkdir(parents=True)
            result.update(
                measure_apiserver(
                    base / "b",
                    creates=args.creates,
                    database_url=args.database_url,
                    workers=args.workers,
                    synchronous=args.sqlite_synchronous,
                    cluster_dir=args.cluster_dir,
                )
            )
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
