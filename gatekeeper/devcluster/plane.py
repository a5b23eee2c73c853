"""The local control plane's lifecycle: etcd and kube-apiserver as processes on 127.0.0.1,
and with `with_nodes` a real node beside them (nodes.py)."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.devcluster import BinariesMissing, DevClusterError, processes, webhookclient
from gatekeeper.devcluster import build as _build
from gatekeeper.devcluster.binaries import (
    ETCD,
    KUBE_APISERVER,
    FoundBinary,
    cache_root,
    find_binaries,
)
from gatekeeper.devcluster.identities import ADMIN, IDENTITIES, new_tokens, token_file
from gatekeeper.devcluster.kubeconfig import write_kubeconfig, write_private
from gatekeeper.devcluster.layout import Layout
from gatekeeper.devcluster.pki import CertificateAuthority, service_account_keys

Progress = Callable[[str], None]

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ETCD_READY_SECONDS = 30.0
APISERVER_READY_SECONDS = 90.0
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class ControlPlane:
    """A running control plane: where it listens and how each identity reaches it."""

    layout: Layout
    server: str
    apiserver_port: int
    etcd_port: int
    pids: Mapping[str, int]
    reused: bool
    # What state.json says about the node (name, ip, containerd socket...), None without one.
    node: Mapping[str, Any] | None = None

    def kubeconfig(self, user: str = ADMIN.name) -> Path:
        return self.layout.kubeconfig(user)

    @property
    def ca_file(self) -> Path:
        return self.layout.pki / "ca.crt"

    @property
    def webhook_client_ca_file(self) -> Path:
        """The CA of the client certificate kube-apiserver shows the webhooks it calls."""
        return self.layout.webhook_client_ca


# --- readiness -------------------------------------------------------------------------------


def _https_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = True
    return context


def _get(url: str, *, token: str | None = None, context: ssl.SSLContext | None = None) -> int:
    request = urllib.request.Request(url)  # noqa: S310 (only http(s) URLs we built)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _wait_until(
    ready: Callable[[], bool],
    *,
    process: processes.Child,
    layout: Layout,
    component: str,
    seconds: float,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            raise _StartFailed(
                f"{component} exited with code {process.returncode}:\n"
                f"{processes.log_tail(layout, component)}\n(log: {layout.log_file(component)})"
            )
        time.sleep(0.2)
    tail = processes.log_tail(layout, component)
    raise DevClusterError(
        f"{component} was not ready after {seconds:.0f} s:\n{tail}\n"
        f"(log: {layout.log_file(component)})"
    )


class _StartFailed(DevClusterError):
    """A component died while starting (a port taken between choosing and binding, say)."""


# --- lifecycle -------------------------------------------------------------------------------


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries(
    *, progress: Progress, env: Mapping[str, str] | None = None
) -> dict[str, FoundBinary]:
    """Find both binaries; on Debian, install etcd and build kube-apiserver when missing."""
    env = os.environ if env is None else env
    cache = cache_root(env)
    found = find_binaries(env=env, cache=cache)
    if all(found.values()):
        return {name: binary for name, binary in found.items() if binary is not None}
    if not _build.is_debian() or platform.machine() not in {"x86_64", "amd64"}:
        raise BinariesMissing(_build.OTHER_SYSTEMS_HELP)
    # One apt-get run for everything missing: etcd itself and what the build needs.
    packages = [_build.ETCD_PACKAGE] if found[ETCD] is None else []
    if found[KUBE_APISERVER] is None:
        packages += _build.BUILD_PACKAGES
    cache.mkdir(parents=True, exist_ok=True)
    _build.install_packages(packages, progress=progress, log=cache / "apt.log")
    if found[KUBE_APISERVER] is None:
        _build.build_kube_apiserver(cache=cache, progress=progress)
    found = find_binaries(env=env, cache=cache)
    missing = [name for name, binary in found.items() if binary is None]
    if missing:
        raise BinariesMissing(f"still missing after install: {', '.join(missing)}")
    return {name: binary for name, binary in found.items() if binary is not None}


def read_state(layout: Layout) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(layout.state_file.read_text())
    except (OSError, ValueError):
        return None
    return state


def running(layout: Layout) -> ControlPlane | None:
    """The control plane of this state directory if both processes run and it answers."""
    state = read_state(layout)
    # A plane started before it had a webhook-client CA does not count: it is started again.
    if state is None or not (layout.pki / "ca.crt").is_file():
        return None
    if not layout.webhook_client_ca.is_file():
        return None
    pids = {c: processes.running_pid(layout, c) for c in (ETCD, KUBE_APISERVER)}
    if state.get("node"):
        from gatekeeper.devcluster import nodes

        pids.update(nodes.running_pids(layout))
    if any(pid is None for pid in pids.values()):
        return None
    token = _admin_token(layout)
    status = _get(
        f"{state['server']}/readyz", token=token, context=_https_context(layout.pki / "ca.crt")
    )
    if status != 200:
        return None
    return ControlPlane(
        layout=layout,
        server=state["server"],
        apiserver_port=state["apiserver_port"],
        etcd_port=state["etcd_port"],
        pids={c: p for c, p in pids.items() if p is not None},
        reused=True,
        node=state.get("node"),
    )


def up(
    state_dir: Path,
    *,
    progress: Progress,
    env: Mapping[str, str] | None = None,
    with_nodes: bool = False,
) -> ControlPlane:
    """Start the control plane in `state_dir`, or return the one already running there.

    `with_nodes` adds a real node (kubelet, containerd...: nodes.py); a running plane is
    reused only if it has a node exactly when one is asked for.
    """
    layout = Layout(state_dir.absolute())
    with _locked(layout):
        existing = running(layout)
        if existing is not None:
            if (existing.node is not None) != with_nodes:
                has = "with a node" if existing.node is not None else "without nodes"
                raise DevClusterError(
                    f"a control plane {has} already runs in {layout.root}; "
                    "`gatekeeper dev-cluster down` it first"
                )
            progress(f"control plane already running at {existing.server}")
            return existing
        _stop_all(layout)
        binaries = ensure_binaries(progress=progress, env=env)
        if with_nodes:
            from gatekeeper.devcluster import nodes

            binaries = {**binaries, **nodes.ensure_binaries(progress=progress, env=env)}
            nodes.preflight(layout)
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                return _start(layout, binaries, progress=progress, with_nodes=with_nodes)
            except _StartFailed as exc:
                _stop_all(layout)
                if attempt == _START_ATTEMPTS:
                    raise
                progress(f"start failed, trying again with other ports: {exc}")
            except BaseException:
                _stop_all(layout)
                raise
        raise AssertionError("unreachable")


def _prepare(layout: Layout, ips: tuple[str, ...] = ("127.0.0.1",)) -> dict[str, str]:
    """A fresh data directory, CA, serving certificate (for `ips`), service-account keys and
    tokens."""
    for folder in (layout.etcd_data, layout.pki, layout.cert_dir, layout.root / "kubeconfig"):
        shutil.rmtree(folder, ignore_errors=True)
    layout.etcd_data.mkdir(parents=True, mode=0o700)
    layout.cert_dir.mkdir(parents=True)
    ca = CertificateAuthority.create("gatekeeper dev-cluster CA")
    serving = ca.issue_server(
        "kube-apiserver",
        ips=ips,
        dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
    )
    sa = service_account_keys()
    write_private(layout.pki / "ca.crt", ca.cert_pem)
    write_private(layout.pki / "ca.key", ca.key_pem)
    write_private(layout.pki / "apiserver.crt", serving.cert_pem + ca.cert_pem)
    write_private(layout.pki / "apiserver.key", serving.key_pem)
    write_private(layout.pki / "sa.pub", sa.cert_pem)
    write_private(layout.pki / "sa.key", sa.key_pem)
    webhookclient.prepare(layout)
    tokens = new_tokens()
    write_private(layout.token_file, token_file(tokens))
    return tokens


def _with_flags(args: list[str], overrides: Mapping[str, str | None]) -> list[str]:
    """`args` with each `--flag=value` of `overrides` replaced (dropped when None) or added."""
    result = []
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag not in overrides:
            result.append(arg)
        elif overrides[flag] is not None:
            result.append(f"{flag}={overrides[flag]}")
    present = {arg.split("=", 1)[0] for arg in args}
    result += [f"{f}={v}" for f, v in overrides.items() if f not in present and v is not None]
    return result


def _start(
    layout: Layout,
    binaries: Mapping[str, FoundBinary],
    *,
    progress: Progress,
    with_nodes: bool = False,
) -> ControlPlane:
    node_ip = ""
    ips: tuple[str, ...] = ("127.0.0.1",)
    if with_nodes:
        from gatekeeper.devcluster import nodeconfig, nodes

        node_ip = nodeconfig.node_ip()
        ips = nodes.apiserver_certificate_ips(node_ip)
    tokens = _prepare(layout, ips)
    if with_nodes:
        nodes.prepare(layout, node_ip=node_ip)
    etcd_port, peer_port, api_port = (
        processes.free_port(),
        processes.free_port(),
        processes.free_port(),
    )
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    progress(f"starting etcd ({binaries[ETCD].path}) on 127.0.0.1:{etcd_port}")
    etcd = processes.spawn(
        layout,
        ETCD,
        [
            str(binaries[ETCD].path),
            "--name=default",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--initial-cluster-state=new",
            "--log-level=warn",
        ],
    )
    _wait_until(
        lambda: _get(f"{etcd_url}/health") == 200,
        process=etcd,
        layout=layout,
        component=ETCD,
        seconds=ETCD_READY_SECONDS,
    )
    server = f"https://127.0.0.1:{api_port}"
    progress(f"starting kube-apiserver ({binaries[KUBE_APISERVER].path}) on {server}")
    pki = layout.pki
    apiserver_args = [
        str(binaries[KUBE_APISERVER].path),
        f"--etcd-servers={etcd_url}",
        f"--secure-port={api_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--insecure-port=0",
        f"--cert-dir={layout.cert_dir}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--token-auth-file={layout.token_file}",
        "--authorization-mode=RBAC",
        # No controller-manager creates `default` service accounts, so Pods (which tests
        # create to write status on) would be refused by this admission plugin.
        "--disable-admission-plugins=ServiceAccount",
        # Webhooks it calls get a client certificate (devcluster/webhookclient.py).
        f"--admission-control-config-file={layout.admission_config}",
        "--allow-privileged=true",
        "--v=1",
    ]
    if with_nodes:
        apiserver_args = _with_flags(apiserver_args, nodes.apiserver_flags(layout, node_ip))
    apiserver = processes.spawn(layout, KUBE_APISERVER, apiserver_args)
    context = _https_context(pki / "ca.crt")
    _wait_until(
        lambda: _get(f"{server}/readyz", token=tokens[ADMIN.name], context=context) == 200,
        process=apiserver,
        layout=layout,
        component=KUBE_APISERVER,
        seconds=APISERVER_READY_SECONDS,
    )
    ca_pem = (pki / "ca.crt").read_bytes()
    for name in IDENTITIES:
        write_kubeconfig(
            layout.kubeconfig(name), server=server, ca_pem=ca_pem, user=name, token=tokens[name]
        )
    progress("granting the users their RBAC rights")
    from gatekeeper.devcluster import bootstrap

    bootstrap.apply_cluster_rbac(layout.kubeconfig(ADMIN.name))
    node = None
    if with_nodes:
        node = nodes.start(
            layout,
            binaries,
            server=server,
            node_ip=node_ip,
            protected_ports=[api_port],
            admin_kubeconfig=layout.kubeconfig(ADMIN.name),
            progress=progress,
        )
    state = {
        "server": server,
        "apiserver_port": api_port,
        "etcd_port": etcd_port,
        "etcd_peer_port": peer_port,
        "webhook_client_ca": str(layout.webhook_client_ca),
        "binaries": {name: str(found.path) for name, found in binaries.items()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "node": node,
    }
    layout.state_file.write_text(json.dumps(state, indent=2) + "\n")
    return ControlPlane(
        layout=layout,
        server=server,
        apiserver_port=api_port,
        etcd_port=etcd_port,
        pids={ETCD: etcd.pid, KUBE_APISERVER: apiserver.pid},
        reused=False,
        node=node,
    )


def _admin_token(layout: Layout) -> str | None:
    try:
        for line in layout.token_file.read_text().splitlines():
            fields = line.split(",")
            if len(fields) >= 2 and fields[1] == ADMIN.username:
                return fields[0]
    except OSError:
        return None
    return None


def _stop_all(layout: Layout) -> list[int]:
    """Stop this state directory's processes, the node's first (while kube-apiserver can
    still tell them to stop their Pods), then kube-apiserver; return the stopped pids."""
    from gatekeeper.devcluster import nodes

    stopped = nodes.stop(layout, layout.kubeconfig(ADMIN.name))
    for component in (KUBE_APISERVER, ETCD):
        pid = processes.running_pid(layout, component)
        if pid is not None:
            processes.stop_pid(pid, layout)
            stopped.append(pid)
        layout.pid_file(component).unlink(missing_ok=True)
    return stopped


def down(state_dir: Path) -> list[int]:
    """Stop exactly the processes `up` started in `state_dir` and drop the cluster's data."""
    layout = Layout(state_dir.absolute())
    if not layout.root.exists():
        return []
    with _locked(layout):
        state = read_state(layout)
        stopped = _stop_all(layout)
        layout.state_file.unlink(missing_ok=True)
        shutil.rmtree(layout.etcd_data, ignore_errors=True)
        if state is not None:
            ports = [state.get(k) for k in ("apiserver_port", "etcd_port", "etcd_peer_port")]
            deadline = time.monotonic() + 5.0
            while True:
                still = [p for p in ports if isinstance(p, int) and processes.port_open(p)]
                if not still or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if still:
                raise DevClusterError(f"ports still listening after stopping: {still}")
        return stopped


def describe(state_dir: Path) -> dict[str, Any]:
    """What runs where, for `gatekeeper dev-cluster status` (JSON-friendly)."""
    layout = Layout(state_dir.absolute())
    state = read_state(layout) or {}
    components = {}
    for component, port_key in ((ETCD, "etcd_port"), (KUBE_APISERVER, "apiserver_port")):
        components[component] = {
            "pid": processes.running_pid(layout, component),
            "port": state.get(port_key),
            "log": str(layout.log_file(component)),
        }
    plane = running(layout)
    return {
        "state_dir": str(layout.root),
        "running": plane is not None,
        "server": state.get("server"),
        "components": components,
        "kubeconfigs": {name: str(layout.kubeconfig(name)) for name in IDENTITIES},
        "webhook_client_ca": str(layout.webhook_client_ca),
        "binaries": state.get("binaries", {}),
        "started_at": state.get("started_at"),
        "node": _describe_node(layout, state.get("node")),
    }


def _describe_node(layout: Layout, node: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not node:
        return None
    from gatekeeper.devcluster import nodes

    pids = nodes.running_pids(layout)
    return {
        **node,
        "components": {c: {"pid": pid, "log": str(layout.log_file(c))} for c, pid in pids.items()},
    }
