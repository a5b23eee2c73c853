"""A real node for the local plane (`up --with-nodes`): containerd, kubelet, kube-proxy,
kube-controller-manager and kube-scheduler as processes the plane owns.

`start` records the machine's settings a node changes, guards the network (hostchanges.py),
starts the parts and waits for a Ready, schedulable node; `stop` deletes the Pods while the
kubelet still runs (so that their networks and volumes are torn down properly), stops every
part, then removes whatever is left and puts the settings back.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.devcluster import (
    BinariesMissing,
    DevClusterError,
    hostchanges,
    nodeimages,
    processes,
)
from gatekeeper.devcluster import build as _build
from gatekeeper.devcluster.binaries import (
    KUBE_CONTROLLER_MANAGER,
    KUBE_PROXY,
    KUBE_SCHEDULER,
    KUBELET,
    NODE_BINARY_NAMES,
    FoundBinary,
    cache_root,
    find_binaries,
)
from gatekeeper.devcluster.kubeconfig import write_private
from gatekeeper.devcluster.layout import Layout
from gatekeeper.devcluster.nodeconfig import (
    CGROUP_ROOT,
    KUBERNETES_SERVICE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    SERVICE_CIDR,
    NodeFiles,
    cert_kubeconfig,
    check_state_dir,
    cni_conflist,
    containerd_toml,
    kube_proxy_config,
    kubelet_config,
    overlapping_networks,
)
from gatekeeper.devcluster.pki import CertificateAuthority

Progress = Callable[[str], None]

CONTAINERD = "containerd"
# Started in this order, stopped in the reverse one (the kubelet after the Pods are gone).
COMPONENTS = (CONTAINERD, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET, KUBE_PROXY)
NODE_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    *nodeimages.PAUSE_PACKAGES,
)
READY_SECONDS = 120.0
POD_DELETE_SECONDS = 45.0


def ensure_binaries(
    *, progress: Progress, env: Mapping[str, str] | None = None
) -> dict[str, FoundBinary]:
    """The node's Debian packages installed and its four binaries built (once, cached)."""
    env = os.environ if env is None else env
    cache = cache_root(env)
    if not _build.is_debian() or platform.machine() not in {"x86_64", "amd64"}:
        raise BinariesMissing(
            "a plane with a node can only be set up here on Debian (amd64): it needs Debian's "
            "containerd, runc and CNI plugins, and builds kubelet from Debian's sources"
        )
    cache.mkdir(parents=True, exist_ok=True)
    _build.install_packages(NODE_PACKAGES, progress=progress, log=cache / "apt.log")
    found = find_binaries(env=env, cache=cache, names=NODE_BINARY_NAMES)
    if any(binary is None for binary in found.values()):
        _build.build_binaries(NODE_BINARY_NAMES, cache=cache, progress=progress)
        found = find_binaries(env=env, cache=cache, names=NODE_BINARY_NAMES)
    missing = [name for name, binary in found.items() if binary is None]
    if missing:
        raise BinariesMissing(f"still missing after the build: {', '.join(missing)}")
    return {name: binary for name, binary in found.items() if binary is not None}


def preflight(layout: Layout) -> None:
    """Refuse to start where a node cannot run or would clash with something already there."""
    if os.geteuid() != 0:
        raise DevClusterError("a plane with a node must run as root (kubelet, containerd, runc)")
    try:
        check_state_dir(layout.root)
    except ValueError as exc:
        raise DevClusterError(str(exc)) from None
    clashes = []
    if hostchanges.chains():
        clashes.append("iptables chains named KUBE-... exist (another Kubernetes node?)")
    if hostchanges.cgroup_dirs():
        clashes.append(f"the cgroup {CGROUP_ROOT} exists (another plane with a node?)")
    if hostchanges.link_exists():
        clashes.append("the network interface of another plane with a node exists")
    clashes += [f"{found} overlaps the node's ranges" for found in overlapping_networks()]
    if clashes:
        raise DevClusterError(
            "cannot start a node on this machine: "
            + "; ".join(clashes)
            + " (`gatekeeper dev-cluster down --state-dir DIR` for the plane that made them)"
        )


def apiserver_certificate_ips(node_ip: str) -> tuple[str, ...]:
    """Where kube-apiserver is reached from: loopback, the node's address, its Service."""
    return ("127.0.0.1", node_ip, KUBERNETES_SERVICE_IP)


def apiserver_flags(layout: Layout, node_ip: str) -> dict[str, str | None]:
    """What changes in kube-apiserver's flags for a node (value None: the flag is dropped)."""
    pki = layout.pki
    node_pki = NodeFiles(layout.root).pki
    return {
        # Pods reach it through the `kubernetes` Service, whose endpoint is this address.
        "--bind-address": "0.0.0.0",  # noqa: S104 (answers only loopback and Pods: the guard)
        "--advertise-address": node_ip,
        "--authorization-mode": "Node,RBAC",
        "--service-cluster-ip-range": SERVICE_CIDR,
        "--disable-admission-plugins": None,
        "--enable-admission-plugins": "NodeRestriction",
        "--client-ca-file": str(pki / "ca.crt"),
        "--kubelet-client-certificate": str(node_pki / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key": str(node_pki / "apiserver-kubelet-client.key"),
        "--kubelet-certificate-authority": str(pki / "ca.crt"),
        "--kubelet-preferred-address-types": "InternalIP",
    }


def prepare(layout: Layout, *, node_ip: str) -> None:
    """Client certificates for each part and kube-apiserver's kubelet client, the kubelet's
    serving certificate; all issued by the plane's CA."""
    files = NodeFiles(layout.root)
    shutil.rmtree(files.root, ignore_errors=True)
    files.root.mkdir(parents=True, mode=0o700)
    ca = CertificateAuthority(
        (layout.pki / "ca.crt").read_bytes(), (layout.pki / "ca.key").read_bytes()
    )
    clients = {
        KUBELET: ca.issue_client(f"system:node:{NODE_NAME}", organization="system:nodes"),
        KUBE_PROXY: ca.issue_client("system:kube-proxy"),
        KUBE_CONTROLLER_MANAGER: ca.issue_client("system:kube-controller-manager"),
        KUBE_SCHEDULER: ca.issue_client("system:kube-scheduler"),
        "apiserver-kubelet-client": ca.issue_client(
            "kube-apiserver-kubelet-client", organization="system:masters"
        ),
    }
    for name, pair in clients.items():
        write_private(files.pki / f"{name}-client.crt", pair.cert_pem)
        write_private(files.pki / f"{name}-client.key", pair.key_pem)
    (files.pki / "apiserver-kubelet-client-client.crt").replace(
        files.pki / "apiserver-kubelet-client.crt"
    )
    (files.pki / "apiserver-kubelet-client-client.key").replace(
        files.pki / "apiserver-kubelet-client.key"
    )
    serving = ca.issue_server(NODE_NAME, ips=("127.0.0.1", node_ip), dns_names=(NODE_NAME,))
    write_private(files.pki / "kubelet.crt", serving.cert_pem)
    write_private(files.pki / "kubelet.key", serving.key_pem)


def _write_configs(layout: Layout, *, server: str, ports: Mapping[str, int]) -> NodeFiles:
    files = NodeFiles(layout.root)
    ca_pem = (layout.pki / "ca.crt").read_bytes()
    for name in (KUBELET, KUBE_PROXY, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER):
        text = cert_kubeconfig(
            server=server,
            ca_pem=ca_pem,
            cert=files.pki / f"{name}-client.crt",
            key=files.pki / f"{name}-client.key",
        )
        write_private(files.kubeconfig(name), text)
    files.containerd_config.write_text(containerd_toml(files))
    files.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    conflist = json.dumps(cni_conflist(files), indent=2) + "\n"
    (files.cni_conf_dir / "10-gatekeeper-devnode.conflist").write_text(conflist)
    # Pods get no name server: nothing in them should look names up outside the machine.
    files.resolv_conf.write_text("")
    kubelet = kubelet_config(
        files, ca_file=layout.pki / "ca.crt", port=ports["kubelet"], healthz_port=ports["kh"]
    )
    files.kubelet_config.write_text(yaml.safe_dump(kubelet, sort_keys=False))
    proxy = kube_proxy_config(files, healthz_port=ports["ph"], metrics_port=ports["pm"])
    files.kube_proxy_config.write_text(yaml.safe_dump(proxy, sort_keys=False))
    return files


def _make_cgroup_parents() -> None:
    """The kubelet wants its cgroup root to exist; cpuset needs its CPUs and memory nodes."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        kind = fields[fields.index("-") + 1]
        if kind not in {"cgroup", "cgroup2"}:
            continue
        top = Path(fields[4]) / CGROUP_ROOT.lstrip("/")
        with suppress(OSError):
            top.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                parent = top.parent / name
                if parent.exists() and not (top / name).read_text().strip():
                    (top / name).write_text(parent.read_text())


def _wait(check: Callable[[], bool], *, what: str, layout: Layout, component: str, seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if processes.running_pid(layout, component) is None:
            raise DevClusterError(
                f"{component} exited while starting:\n{processes.log_tail(layout, component)}\n"
                f"(log: {layout.log_file(component)})"
            )
        time.sleep(0.2)
    raise DevClusterError(
        f"{what} not within {seconds:.0f} s:\n{processes.log_tail(layout, component)}\n"
        f"(log: {layout.log_file(component)})"
    )


def start(
    layout: Layout,
    binaries: Mapping[str, FoundBinary],
    *,
    server: str,
    node_ip: str,
    protected_ports: list[int],
    admin_kubeconfig: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Start the node's parts and wait for a Ready node; return what state.json records."""
    files = NodeFiles(layout.root)
    before = hostchanges.record(files.host_changes)
    sysctls = before["sysctls"]
    forwarding = isinstance(sysctls, dict) and sysctls.get("net/ipv4/ip_forward") == "1"
    ports = {k: processes.free_port() for k in ("kubelet", "kh", "ph", "pm", "kcm", "sched")}
    # The kubelet listens on every address too (kube-apiserver calls it at the node's).
    hostchanges.install_guard(
        protected_ports=[*protected_ports, ports["kubelet"]],
        drop_other_forwarding=not forwarding,
    )
    _write_configs(layout, server=server, ports=ports)
    _make_cgroup_parents()
    pki = layout.pki
    progress("starting containerd")
    containerd = shutil.which(CONTAINERD) or "/usr/bin/containerd"
    processes.spawn(layout, CONTAINERD, [containerd, "--config", str(files.containerd_config)])
    _wait(
        lambda: files.containerd_socket.is_socket() and bool(_ctr_ready(files)),
        what="containerd's socket",
        layout=layout,
        component=CONTAINERD,
        seconds=30.0,
    )
    version_dir = binaries[KUBELET].path.parent
    nodeimages.load_pause(files.containerd_socket, version_dir, files.root)
    kcm = files.kubeconfig(KUBE_CONTROLLER_MANAGER)
    progress("starting kube-controller-manager and kube-scheduler")
    processes.spawn(
        layout,
        KUBE_CONTROLLER_MANAGER,
        [
            str(binaries[KUBE_CONTROLLER_MANAGER].path),
            f"--kubeconfig={kcm}",
            f"--authentication-kubeconfig={kcm}",
            f"--authorization-kubeconfig={kcm}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kcm']}",
            "--port=0",
            f"--cert-dir={files.root / 'kcm-certs'}",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--v=1",
        ],
    )
    sched = files.kubeconfig(KUBE_SCHEDULER)
    processes.spawn(
        layout,
        KUBE_SCHEDULER,
        [
            str(binaries[KUBE_SCHEDULER].path),
            f"--kubeconfig={sched}",
            f"--authentication-kubeconfig={sched}",
            f"--authorization-kubeconfig={sched}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['sched']}",
            "--port=0",
            f"--cert-dir={files.root / 'scheduler-certs'}",
            "--leader-elect=false",
            "--v=1",
        ],
    )
    progress(f"starting the kubelet (node {NODE_NAME}, {node_ip}) and kube-proxy")
    processes.spawn(
        layout,
        KUBELET,
        [
            str(binaries[KUBELET].path),
            f"--config={files.kubelet_config}",
            f"--kubeconfig={files.kubeconfig(KUBELET)}",
            f"--root-dir={files.kubelet_root}",
            "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{files.containerd_socket}",
            f"--node-ip={node_ip}",
            f"--hostname-override={NODE_NAME}",
            f"--pod-infra-container-image={PAUSE_IMAGE}",
            f"--cert-dir={files.pki}",
            "--v=1",
        ],
    )
    processes.spawn(
        layout,
        KUBE_PROXY,
        [str(binaries[KUBE_PROXY].path), f"--config={files.kube_proxy_config}", "--v=1"],
    )
    progress("waiting for the node to be Ready")
    from gatekeeper.devcluster import nodeapi

    _wait(
        lambda: nodeapi.node_schedulable(admin_kubeconfig, NODE_NAME),
        what=f"node {NODE_NAME} Ready and schedulable",
        layout=layout,
        component=KUBELET,
        seconds=READY_SECONDS,
    )
    _wait(
        lambda: nodeapi.default_service_account(admin_kubeconfig, "default"),
        what="the default ServiceAccount",
        layout=layout,
        component=KUBE_CONTROLLER_MANAGER,
        seconds=READY_SECONDS,
    )
    return {
        "name": NODE_NAME,
        "ip": node_ip,
        "kubelet_port": ports["kubelet"],
        "containerd_socket": str(files.containerd_socket),
        "binaries": {name: str(binaries[name].path) for name in NODE_BINARY_NAMES},
    }


def _ctr_ready(files: NodeFiles) -> bool:
    import subprocess

    result = subprocess.run(
        ["ctr", "--address", str(files.containerd_socket), "version"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def running_pids(layout: Layout) -> dict[str, int | None]:
    return {c: processes.running_pid(layout, c) for c in COMPONENTS}


def stop(layout: Layout, admin_kubeconfig: Path) -> list[int]:
    """Stop the node's parts and undo its changes to the machine; return the stopped pids."""
    files = NodeFiles(layout.root)
    if not files.root.exists():
        return []
    stopped = []

    def halt(component: str) -> None:
        pid = processes.running_pid(layout, component)
        if pid is not None:
            processes.stop_pid(pid, layout)
            stopped.append(pid)
        layout.pid_file(component).unlink(missing_ok=True)

    # No controller recreates Pods and none is scheduled while they are being deleted.
    halt(KUBE_CONTROLLER_MANAGER)
    halt(KUBE_SCHEDULER)
    if processes.running_pid(layout, KUBELET) is not None:
        from gatekeeper.devcluster import nodeapi

        with suppress(Exception):
            nodeapi.delete_all_pods(admin_kubeconfig, seconds=POD_DELETE_SECONDS)
    for component in (KUBELET, KUBE_PROXY, CONTAINERD):
        halt(component)
    hostchanges.restore(files.host_changes, files.root)
    left = hostchanges.mounts_under(files.root)
    if left:
        raise DevClusterError(f"still mounted after stopping the node: {', '.join(left)}")
    # containerd's images and snapshots, the kubelet's folders, certificates: all of it.
    shutil.rmtree(files.root, ignore_errors=True)
    return stopped
