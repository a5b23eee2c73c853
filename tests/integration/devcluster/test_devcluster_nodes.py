"""A plane with a real node: Pods from the project's own image run, and `down` puts the machine
back exactly as it was (no process, mount, cgroup, iptables chain, interface or sysctl left).

Root only; the kubelet and the other node binaries are built once per machine (about 15
minutes, cached), which only happens here under CI=true. The image is built by
scripts/build-image.sh unless GK_TEST_IMAGE_ARCHIVE names one (`make image` writes
build/image/gitops-gatekeeper.tar).
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from gatekeeper import __version__
from gatekeeper.devcluster import nodeimages, plane
from gatekeeper.devcluster.identities import ADMIN
from gatekeeper.devcluster.nodeconfig import NODE_NAME
from tests.fixtures.cluster import node_plane

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.integration,
    pytest.mark.slow,
    # One node per machine: every test of this module runs in the same xdist worker.
    pytest.mark.xdist_group("nodes"),
]

IMAGE = f"localhost/gitops-gatekeeper:{__version__}"
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.netfilter.nf_conntrack_max",
)
SHARED = ("/run/containerd", "/var/lib/cni", "/var/log/pods", "/var/log/containers")


# --- what the machine looks like, read independently of the code under test ------------------


def _sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        result = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, check=False)
        values[name] = result.stdout.strip()
    return values


def _iptables_chains() -> list[str]:
    chains = []
    for tool in ("iptables-save", "ip6tables-save"):
        dump = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        chains += re.findall(r"^:((?:KUBE|GK)-[A-Z0-9-]+)", dump, re.MULTILINE)
    return chains


def _mounts_naming(folder: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(folder) in line]


def _processes_naming(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def _cgroups() -> list[str]:
    return [str(p) for p in Path("/sys/fs/cgroup").glob("*/gatekeeper-devnode")]


def _machine() -> dict[str, object]:
    return {
        "sysctls": _sysctls(),
        "chains": _iptables_chains(),
        "cgroups": _cgroups(),
        "bridge": Path("/sys/class/net/gkdev0").exists(),
        "shared folders": [p for p in SHARED if Path(p).exists()],
    }


# --- Kubernetes helpers ----------------------------------------------------------------------


def _wait(condition: object, seconds: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {seconds:.0f} s")


def _pod_spec(command: list[str]) -> client.V1PodSpec:
    return client.V1PodSpec(
        restart_policy="Never",
        containers=[
            client.V1Container(
                name="gatekeeper",
                image=IMAGE,
                image_pull_policy="Never",
                command=command,
                security_context=client.V1SecurityContext(
                    run_as_non_root=True,
                    read_only_root_filesystem=True,
                    allow_privilege_escalation=False,
                ),
                volume_mounts=[client.V1VolumeMount(name="tmp", mount_path="/tmp")],
            )
        ],
        volumes=[client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource())],
    )


def _run_job(api: client.ApiClient, namespace: str, name: str, command: list[str]) -> str:
    """Run `command` in the image as a Job; return the log of its Pod once it succeeded."""
    jobs = client.BatchV1Api(api)
    core = client.CoreV1Api(api)
    jobs.create_namespaced_job(
        namespace,
        client.V1Job(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1JobSpec(
                backoff_limit=0,
                template=client.V1PodTemplateSpec(spec=_pod_spec(command)),
            ),
        ),
    )

    def finished() -> bool:
        status = jobs.read_namespaced_job_status(name, namespace).status
        return bool(status and (status.succeeded or status.failed))

    _wait(finished, 180, f"job {name}")
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    log: str = core.read_namespaced_pod_log(pods[0].metadata.name, namespace)
    status = jobs.read_namespaced_job_status(name, namespace).status
    assert status.succeeded == 1, f"job {name} failed; its log:\n{log}"
    return log


REACH_API = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
url = "https://%s:%s/version" % (os.environ["KUBERNETES_SERVICE_HOST"],
                                 os.environ["KUBERNETES_SERVICE_PORT"])
request = urllib.request.Request(url)
request.add_header("Authorization", "Bearer " + open(sa + "token").read())
context = ssl.create_default_context(cafile=sa + "ca.crt")
print(json.load(urllib.request.urlopen(request, context=context, timeout=10))["gitVersion"])
"""


def test_a_node_runs_the_image_and_down_puts_the_machine_back(
    node_image_archive: Path,
) -> None:
    before = _machine()

    with node_plane() as started:
        assert started.node is not None
        state_dir = started.layout.root
        _run_pods(started, node_image_archive)
        stopped = plane.down(state_dir)
        assert len(stopped) == 7  # etcd, kube-apiserver and the node's five processes

        assert _processes_naming(state_dir) == []
        assert _mounts_naming(state_dir) == []
        assert _machine() == before
        assert not (state_dir / "node").exists()


def _service_address_without_rules_is_refused_here() -> None:
    """A Service address kube-proxy has no rule for (not allocated, or not synced yet) must be
    refused on this machine, not follow the default route off it: kube-apiserver calling a
    just-created webhook Service reached another network's proxy that way."""
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.settimeout(5)
        sock.connect(("10.213.1.250", 443))


def _run_pods(started: plane.ControlPlane, image_archive: Path) -> None:
    assert started.node is not None
    _service_address_without_rules_is_refused_here()
    api = config.new_client_from_config(config_file=str(started.kubeconfig(ADMIN.name)))
    core = client.CoreV1Api(api)
    node = core.read_node(NODE_NAME)
    conditions = {c.type: c.status for c in node.status.conditions}
    assert conditions["Ready"] == "True"
    assert not node.spec.taints

    nodeimages.import_archive(Path(started.node["containerd_socket"]), image_archive)
    namespace = "image-test"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))

    def has_service_account() -> bool:
        return any(
            sa.metadata.name == "default"
            for sa in core.list_namespaced_service_account(namespace).items
        )

    _wait(has_service_account, 60, "the namespace's default ServiceAccount")

    # The CLI runs as user 10001 on a read-only root filesystem.
    version = _run_job(api, namespace, "version", ["/usr/local/bin/gatekeeper", "--version"])
    assert version.strip() == f"gatekeeper {__version__}"
    # A Pod reaches kube-apiserver through the `kubernetes` Service (kube-proxy, the bridge),
    # trusting the CA and token its ServiceAccount gives it.
    reached = _run_job(api, namespace, "reach-api", ["python3", "-c", REACH_API])
    assert reached.strip() == "v1.20.2"
    api.close()
