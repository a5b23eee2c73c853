"""What a node changes on the machine, recorded before `up` and put back by `down`.

The kubelet and kube-proxy set sysctls, add iptables chains, create cgroups, mount volumes
and network namespaces, and the CNI plugin makes a bridge. `up` records the sysctls' values
first; `down` restores them and removes everything else these parts made, found by name (our
cgroup parent, chains called KUBE-... or ours, mounts under the state directory).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

from gatekeeper.devcluster import DevClusterError
from gatekeeper.devcluster.nodeconfig import (
    BRIDGE,
    CGROUP_ROOT,
    CHAIN_PREFIX,
    CNI_NETWORK,
    FORWARD_GUARD,
    INPUT_GUARD,
    OUTPUT_GUARD,
    POD_CIDR,
    SERVICE_CIDR,
)

# Set by the kubelet (setupKernelTunables), kube-proxy and the bridge plugin, or by
# kube-proxy's conntrack settings when they are not zero (they are, but checked all the same).
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/conf/all/forwarding",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
CONNTRACK_HASHSIZE = Path("/sys/module/nf_conntrack/parameters/hashsize")
_PROC_SYS = Path("/proc/sys")
IPTABLES = ("iptables", "ip6tables")
TABLES = ("filter", "nat", "mangle")
# Folders other software may share; removed by `down` only when `up` found them missing.
# (The kubelet of 1.20 writes Pod logs to /var/log/pods and /var/log/containers, always.)
SHARED_FOLDERS = (
    Path("/run/containerd"),
    Path("/var/lib/cni"),
    Path("/var/log/pods"),
    Path("/var/log/containers"),
)


def _sysctl_files() -> dict[str, Path]:
    files = {name: _PROC_SYS / name for name in SYSCTLS}
    files["nf_conntrack hashsize"] = CONNTRACK_HASHSIZE
    return files


def read_sysctls() -> dict[str, str]:
    """The current value of every sysctl a node may change (those this kernel has)."""
    values = {}
    for name, path in _sysctl_files().items():
        with suppress(OSError):
            values[name] = path.read_text().strip()
    return values


def record(path: Path) -> dict[str, object]:
    """Write what `down` must put back: sysctls, and which shared folders already existed."""
    before: dict[str, object] = {
        "sysctls": read_sysctls(),
        "existing_folders": [str(p) for p in SHARED_FOLDERS if p.exists()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(before, indent=2) + "\n")
    return before


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    """Write back every recorded value that differs now; return the names it changed."""
    changed = []
    files = _sysctl_files()
    for name, value in saved.items():
        path = files.get(name)
        if path is None:
            continue
        with suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
                changed.append(name)
    return changed


# --- iptables --------------------------------------------------------------------------------


def _ours(chain: str) -> bool:
    return chain.startswith(("KUBE-", CHAIN_PREFIX))


def _iptables(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "-w", "5", *args], capture_output=True, text=True, check=False)


def chains(binary: str = "iptables") -> dict[str, list[str]]:
    """Chains named KUBE-... or ours, per table (empty when the tool is missing)."""
    found: dict[str, list[str]] = {}
    for table in TABLES:
        try:
            listing = _iptables(binary, "-t", table, "-S")
        except FileNotFoundError:
            return {}
        names = [
            line.split()[1]
            for line in listing.stdout.splitlines()
            if line.startswith("-N ") and _ours(line.split()[1])
        ]
        if names:
            found[table] = names
    return found


def remove_chains() -> None:
    """Delete every rule that jumps to a KUBE-... chain or ours, then those chains."""
    for binary in IPTABLES:
        for table, names in chains(binary).items():
            listing = _iptables(binary, "-t", table, "-S").stdout.splitlines()
            for line in listing:
                words = shlex.split(line)
                if words[:1] != ["-A"] or _ours(words[1]):
                    continue
                if "-j" in words and _ours(words[words.index("-j") + 1]):
                    _iptables(binary, "-t", table, "-D", *words[1:])
            for name in names:
                _iptables(binary, "-t", table, "-F", name)
            for name in names:
                _iptables(binary, "-t", table, "-X", name)


def install_guard(*, protected_ports: list[int], drop_other_forwarding: bool) -> None:
    """Keep the node's traffic on this machine (DESIGN section 9, the network rule).

    Packets from the Pods' bridge are forwarded only back onto that bridge (never routed to
    another network), the ports that listen on every address for the Pods' sake
    (kube-apiserver) answer only loopback and the Pods, and the machine's own packets to the
    node's ranges never leave by another interface. The bridge plugin turns IPv4 forwarding
    on; if it was off, whatever else would now be forwarded is dropped.
    """
    binary = "iptables"
    forward = [
        ["-i", BRIDGE, "-o", BRIDGE, "-j", "RETURN"],
        ["-i", BRIDGE, "-j", "DROP"],
        ["-o", BRIDGE, "!", "-s", POD_CIDR, "-m", "conntrack", "!", "--ctstate", "DNAT",
         "-j", "DROP"],
    ]  # fmt: skip
    if drop_other_forwarding:
        forward.append(["!", "-o", BRIDGE, "-j", "DROP"])
    incoming = []
    for port in protected_ports:
        incoming += [
            ["-p", "tcp", "--dport", str(port), "-i", "lo", "-j", "RETURN"],
            ["-p", "tcp", "--dport", str(port), "-s", POD_CIDR, "-i", BRIDGE, "-j", "RETURN"],
            ["-p", "tcp", "--dport", str(port), "-j", "DROP"],
        ]
    # This machine's own packets to a Service address that kube-proxy has not translated
    # (no rule for it yet, or none at all) or to a Pod address while the bridge is missing
    # would follow the default route off the machine: they are refused instead.
    # A packet kube-proxy translated to a Pod is left alone: the filter table still sees the
    # interface of its route before translation (`-o` is not updated), so it would be refused
    # and the machine (kube-apiserver calling a webhook Service) could not reach any Service.
    outgoing = [
        ["-d", SERVICE_CIDR, "-j", "REJECT"],
        ["-d", POD_CIDR, "!", "-o", BRIDGE, "-m", "conntrack", "!", "--ctstate", "DNAT",
         "-j", "REJECT"],
    ]  # fmt: skip
    for chain, hook, rules in (
        (FORWARD_GUARD, "FORWARD", forward),
        (INPUT_GUARD, "INPUT", incoming),
        (OUTPUT_GUARD, "OUTPUT", outgoing),
    ):
        _iptables(binary, "-N", chain)
        for rule in rules:
            result = _iptables(binary, "-A", chain, *rule)
            if result.returncode != 0:
                raise DevClusterError(f"iptables refused the rule {rule}: {result.stderr}")
        result = _iptables(binary, "-I", hook, "1", "-j", chain)
        if result.returncode != 0:
            raise DevClusterError(f"iptables could not hook {chain} into {hook}: {result.stderr}")


# --- mounts, cgroups, processes, links -------------------------------------------------------


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first."""
    prefix = str(root.absolute())
    found = []
    with suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_under(root: Path) -> None:
    for _ in range(3):
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def cgroup_dirs() -> list[Path]:
    """Our cgroup parent in every mounted hierarchy where it exists."""
    found = []
    with suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1] in {"cgroup", "cgroup2"}:
                candidate = Path(_unescape(fields[4])) / CGROUP_ROOT.lstrip("/")
                if candidate.is_dir():
                    found.append(candidate)
    return sorted(set(found))


def cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for top in cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            with suppress(OSError, ValueError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def kill_cgroups(seconds: float = 10.0) -> None:
    """SIGKILL whatever still runs in our cgroups (containers), then remove the cgroups."""
    deadline = time.monotonic() + seconds
    while (pids := cgroup_pids()) and time.monotonic() < deadline:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for top in cgroup_dirs():
        for folder in sorted(
            (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with suppress(OSError):
                folder.rmdir()
        with suppress(OSError):
            top.rmdir()


def shims_of(root: Path) -> list[int]:
    """containerd's shims whose command line names `root` (their containerd's socket).

    Only shims: kube-apiserver's command line names files below the node's folder too, and
    it is stopped after the node, in order."""
    marker = str(root.absolute()).encode() + b"/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            words = (entry / "cmdline").read_bytes().split(b"\0")
            if b"containerd-shim" in words[0] and any(marker in word for word in words):
                found.append(int(entry.name))
    return found


def kill_shims(root: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while (pids := shims_of(root)) and time.monotonic() < deadline:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        for pid in pids:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def link_exists(name: str = BRIDGE) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def remove_link(name: str = BRIDGE) -> None:
    if link_exists(name):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)


def remove_cni_cache(existing_folders: list[str]) -> None:
    """libcni's cache entries for our network; the shared folders if `up` created them."""
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        for entry in results.glob(f"{CNI_NETWORK}-*"):
            entry.unlink(missing_ok=True)
    for folder in SHARED_FOLDERS:
        if str(folder) not in existing_folders and folder.exists():
            subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=False)


def restore(record_file: Path, node_root: Path) -> list[str]:
    """Undo a node's changes to the machine; return the names of the sysctls put back.

    containerd's shims for `node_root` are killed, and what is mounted below it unmounted."""
    try:
        before = json.loads(record_file.read_text())
    except (OSError, ValueError):
        before = {"sysctls": {}, "existing_folders": [str(p) for p in SHARED_FOLDERS]}
    kill_shims(node_root)
    kill_cgroups()
    unmount_under(node_root)
    remove_link()
    remove_chains()
    remove_cni_cache(list(before.get("existing_folders", [])))
    return restore_sysctls(dict(before.get("sysctls", {})))
