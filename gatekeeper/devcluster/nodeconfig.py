"""What a plane with a node (`up --with-nodes`) writes: addresses, paths and config files.

Everything here is pure: paths inside the state directory, and the text of containerd's,
the kubelet's, kube-proxy's and the CNI's configuration. Starting and stopping is nodes.py.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Ranges no one else on these machines uses (DESIGN section 9); `up` checks that no route or
# address of the machine overlaps them before it starts anything.
POD_CIDR = "10.213.0.0/24"
POD_GATEWAY = "10.213.0.1"
SERVICE_CIDR = "10.213.1.0/24"
KUBERNETES_SERVICE_IP = "10.213.1.1"
BRIDGE = "gkdev0"
CNI_NETWORK = "gatekeeper-devnode"
NODE_NAME = "gatekeeper-node"
# The kubelet's cgroups (cgroupfs driver) live under this parent in every hierarchy.
CGROUP_ROOT = "/gatekeeper-devnode"
# Our own iptables chains (Kubernetes' own are all called KUBE-...), hooked into FORWARD and
# INPUT of the filter table.
CHAIN_PREFIX = "GK-DEVNODE-"
FORWARD_GUARD = CHAIN_PREFIX + "FORWARD"
INPUT_GUARD = CHAIN_PREFIX + "INPUT"
OUTPUT_GUARD = CHAIN_PREFIX + "OUTPUT"
PAUSE_IMAGE = "localhost/gatekeeper-devnode/pause:3.4"
# kubelet's longest socket path is <root>/node/kubelet/device-plugins/kubelet.sock, and a
# unix socket path has at most 107 bytes.
_LONGEST_SOCKET = "/node/kubelet/device-plugins/kubelet.sock"
_SOCKET_LIMIT = 107


@dataclass(frozen=True)
class NodeFiles:
    """Where the node's parts keep their files, all under `<state dir>/node`."""

    state_root: Path

    @property
    def root(self) -> Path:
        return self.state_root / "node"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd-state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.root / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def ipam_dir(self) -> Path:
        return self.root / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def host_changes(self) -> Path:
        """What `up` found on the machine before changing it (sysctls...), for `down`."""
        return self.root / "host-changes.json"

    def kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.kubeconfig"


def check_state_dir(state_root: Path) -> None:
    """Refuse a state directory whose sockets would be too long for the kernel."""
    length = len(str(state_root)) + len(_LONGEST_SOCKET)
    if length > _SOCKET_LIMIT:
        raise ValueError(
            f"the state directory {state_root} is too long for a plane with a node: the "
            f"kubelet's sockets would be {length} bytes long (at most {_SOCKET_LIMIT}); "
            "choose a shorter --state-dir"
        )


def node_ip() -> str:
    """The machine's own address (the kubelet refuses a loopback node IP).

    `ip route get` only asks the routing table which source address it would use; it sends
    nothing.
    """
    result = subprocess.run(
        ["ip", "-j", "route", "get", "192.0.2.1"], capture_output=True, text=True, check=False
    )
    try:
        routes = json.loads(result.stdout or "[]")
        source = str(routes[0]["prefsrc"])
    except (ValueError, IndexError, KeyError):
        source = ""
    if source and not ipaddress.ip_address(source).is_loopback:
        return source
    result = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False)
    for word in result.stdout.split():
        address = ipaddress.ip_address(word)
        if address.version == 4 and not address.is_loopback:
            return word
    raise ValueError("this machine has no non-loopback IPv4 address for the node")


def overlapping_networks(ranges: tuple[str, ...] = (POD_CIDR, SERVICE_CIDR)) -> list[str]:
    """Routes and addresses of this machine that overlap the node's ranges (should be none)."""
    wanted = [ipaddress.ip_network(r) for r in ranges]
    found = []
    routes = subprocess.run(
        ["ip", "-j", "route", "show", "table", "all"], capture_output=True, check=False
    )
    addresses = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, check=False)
    for route in json.loads(routes.stdout or b"[]"):
        dst = route.get("dst", "")
        if route.get("dev") == BRIDGE or dst in {"default", ""}:
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if network.version == 4 and any(network.overlaps(w) for w in wanted):
            found.append(f"route {dst} dev {route.get('dev')}")
    for link in json.loads(addresses.stdout or b"[]"):
        if link.get("ifname") == BRIDGE:
            continue
        for info in link.get("addr_info", []):
            network = ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False)
            if any(network.overlaps(w) for w in wanted):
                found.append(f"address {info['local']} on {link.get('ifname')}")
    return found


def containerd_toml(files: NodeFiles) -> str:
    """containerd's own root, state, socket, CRI settings and CNI folder (TOML, version 2)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'

    def q(value: object) -> str:
        return json.dumps(str(value))

    disabled = [
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.snapshotter.v1.devmapper",
    ]
    return "\n".join(
        [
            "version = 2",
            f"root = {q(files.containerd_root)}",
            f"state = {q(files.containerd_state)}",
            f"disabled_plugins = {json.dumps(disabled)}",
            "[grpc]",
            f"  address = {q(files.containerd_socket)}",
            "[ttrpc]",
            f"  address = {q(str(files.containerd_socket) + '.ttrpc')}",
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {q(files.containerd_root / 'opt')}",
            f"[{cri}]",
            f"  sandbox_image = {q(PAUSE_IMAGE)}",
            # Root lacks CAP_SYS_RESOURCE here: without this every sandbox fails to start.
            "  restrict_oom_score_adj = true",
            # Network namespaces under our state folder rather than /var/run/netns.
            "  netns_mounts_under_state_dir = true",
            "  disable_apparmor = true",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            f"  Root = {q(files.runc_root)}",
            f"[{cri}.cni]",
            '  bin_dir = "/usr/lib/cni"',
            f"  conf_dir = {q(files.cni_conf_dir)}",
            "  max_conf_num = 1",
            "",
        ]
    )


def cni_conflist(files: NodeFiles) -> dict[str, Any]:
    """A bridge with host-local addresses; no masquerading (nothing leaves the machine)."""
    return {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(files.ipam_dir),
                },
            }
        ],
    }


def kubelet_config(
    files: NodeFiles, *, ca_file: Path, port: int, healthz_port: int
) -> dict[str, Any]:
    """KubeletConfiguration: x509 + webhook authentication, our cgroup parent, no swap check,
    no image garbage collection (imported images cannot be pulled again)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The API server reaches it at the node's address (DESIGN section 9); the guard chain
        # (hostchanges.py) lets only loopback and the Pods reach the API server.
        "address": "0.0.0.0",  # noqa: S104
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(files.pki / "kubelet.crt"),
        "tlsPrivateKeyFile": str(files.pki / "kubelet.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": CGROUP_ROOT,
        "failSwapOn": False,
        "resolvConf": str(files.resolv_conf),
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "maxPods": 30,
        "protectKernelDefaults": False,
        "serializeImagePulls": False,
        "containerLogMaxSize": "5Mi",
        "containerLogMaxFiles": 2,
    }


def kube_proxy_config(files: NodeFiles, *, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    """KubeProxyConfiguration: iptables mode, leaving conntrack sysctls and OOM scores alone."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "clientConnection": {"kubeconfig": str(files.kubeconfig("kube-proxy"))},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "oomScoreAdj": 0,
        "nodePortAddresses": ["127.0.0.0/8"],
    }


def cert_kubeconfig(*, server: str, ca_pem: bytes, cert: Path, key: Path) -> str:
    """A kubeconfig whose user is a client certificate on disk (the node components')."""
    import base64

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [
            {"name": "component", "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "component"}}],
        "current-context": "local",
    }
    return yaml.safe_dump(document, sort_keys=False)
