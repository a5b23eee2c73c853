"""The pure parts of a plane with a node: config files, flags, the pause image's archive."""

from __future__ import annotations

import hashlib
import json
import tarfile
import tomllib
from pathlib import Path

import pytest

from gatekeeper.devcluster import nodeconfig, nodeimages, plane
from gatekeeper.devcluster.build import build_info_file
from gatekeeper.devcluster.nodeconfig import NodeFiles


def test_containerd_keeps_everything_in_the_state_directory(tmp_path: Path) -> None:
    files = NodeFiles(tmp_path)
    config = tomllib.loads(nodeconfig.containerd_toml(files))

    assert config["root"].startswith(str(tmp_path))
    assert config["state"].startswith(str(tmp_path))
    assert config["grpc"]["address"] == str(files.containerd_socket)
    assert config["plugins"]["io.containerd.internal.v1.opt"]["path"].startswith(str(tmp_path))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    # Without it every sandbox fails here: root lacks CAP_SYS_RESOURCE.
    assert cri["restrict_oom_score_adj"] is True
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["sandbox_image"] == nodeconfig.PAUSE_IMAGE
    assert cri["cni"]["conf_dir"] == str(files.cni_conf_dir)
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["Root"].startswith(str(tmp_path))


def test_the_pod_network_never_masquerades_and_keeps_its_addresses_here(tmp_path: Path) -> None:
    conflist = nodeconfig.cni_conflist(NodeFiles(tmp_path))
    bridge = conflist["plugins"][0]

    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.213.0.0/24", "gateway": "10.213.0.1"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))


def test_kube_proxy_leaves_conntrack_sysctls_and_oom_scores_alone(tmp_path: Path) -> None:
    proxy = nodeconfig.kube_proxy_config(NodeFiles(tmp_path), healthz_port=1, metrics_port=2)

    assert proxy["conntrack"]["maxPerCore"] == 0
    assert proxy["conntrack"]["min"] == 0
    assert proxy["oomScoreAdj"] == 0
    assert proxy["healthzBindAddress"] == "127.0.0.1:1"


def test_the_kubelet_authenticates_callers_and_keeps_to_its_cgroup(tmp_path: Path) -> None:
    kubelet = nodeconfig.kubelet_config(
        NodeFiles(tmp_path), ca_file=tmp_path / "ca.crt", port=5, healthz_port=6
    )

    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["readOnlyPort"] == 0
    assert kubelet["cgroupRoot"] == nodeconfig.CGROUP_ROOT
    assert kubelet["imageGCHighThresholdPercent"] == 100


def test_a_state_directory_too_long_for_the_kubelets_sockets_is_refused() -> None:
    nodeconfig.check_state_dir(Path("/tmp/gkn-abc/p"))
    with pytest.raises(ValueError, match="too long"):
        nodeconfig.check_state_dir(Path("/tmp/" + "x" * 80))


def test_apiserver_flags_are_replaced_dropped_or_added() -> None:
    args = ["kube-apiserver", "--bind-address=127.0.0.1", "--disable-admission-plugins=X", "--v=1"]

    changed = plane._with_flags(
        args,
        {"--bind-address": "0.0.0.0", "--disable-admission-plugins": None, "--client-ca-file": "c"},
    )

    assert changed == ["kube-apiserver", "--bind-address=0.0.0.0", "--v=1", "--client-ca-file=c"]


def test_the_pause_archive_is_a_docker_archive_whose_digests_match(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF not really")

    archive = nodeimages.docker_archive(binary, "localhost/x/pause:1", tmp_path / "pause.tar")

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        (entry,) = manifest
        assert entry["RepoTags"] == ["localhost/x/pause:1"]
        layer = tar.extractfile(entry["Layers"][0]).read()  # type: ignore[union-attr]
        config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    assert config["config"]["Entrypoint"] == ["/pause"]
    with tarfile.open(fileobj=__import__("io").BytesIO(layer)) as inner:
        member = inner.getmember("pause")
    assert member.mode == 0o755


def test_a_later_build_of_node_binaries_keeps_kube_apiservers_build_info(tmp_path: Path) -> None:
    assert build_info_file(tmp_path, ["kube-apiserver"]) == tmp_path / "build-info.json"
    later = build_info_file(tmp_path, ["kubelet", "kube-proxy"])
    assert later == tmp_path / "build-info-kube-proxy.json"
