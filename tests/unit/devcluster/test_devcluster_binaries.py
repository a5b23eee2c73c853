"""Binary lookup: $KUBEBUILDER_ASSETS first, then PATH, then the newest cached version."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.devcluster.binaries import (
    cache_root,
    cached_version_dirs,
    find_binaries,
    find_binary,
)


def _executable(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_kubebuilder_assets_win_over_path_and_cache(tmp_path: Path) -> None:
    assets = _executable(tmp_path / "assets", "kube-apiserver")
    on_path = _executable(tmp_path / "bin", "kube-apiserver")
    _executable(tmp_path / "cache" / "1.20.2", "kube-apiserver")
    env = {"KUBEBUILDER_ASSETS": str(assets.parent), "PATH": str(on_path.parent)}

    found = find_binary("kube-apiserver", env=env, cache=tmp_path / "cache")

    assert found is not None
    assert (found.path, found.origin) == (assets, "KUBEBUILDER_ASSETS")


def test_path_wins_over_cache_when_assets_lack_the_binary(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    on_path = _executable(tmp_path / "bin", "etcd")
    _executable(tmp_path / "cache" / "1.20.2", "etcd")
    env = {"KUBEBUILDER_ASSETS": str(tmp_path / "assets"), "PATH": str(on_path.parent)}

    found = find_binary("etcd", env=env, cache=tmp_path / "cache")

    assert found is not None
    assert (found.path, found.origin) == (on_path, "PATH")


def test_the_cache_is_the_last_resort_and_its_newest_version_is_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _executable(cache / "1.9.11", "kube-apiserver")
    newest = _executable(cache / "1.20.2", "kube-apiserver")
    (cache / "build-temp").mkdir()
    env = {"PATH": str(tmp_path / "empty")}

    found = find_binary("kube-apiserver", env=env, cache=cache)

    assert found is not None
    assert (found.path, found.origin) == (newest, "cache")
    assert [p.name for p in cached_version_dirs(cache)] == ["1.20.2", "1.9.11"]


def test_a_file_that_is_not_executable_is_not_a_binary(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "kube-apiserver").write_text("not a program")
    env = {"KUBEBUILDER_ASSETS": str(assets), "PATH": str(tmp_path / "empty")}

    assert find_binary("kube-apiserver", env=env, cache=tmp_path / "cache") is None


def test_missing_binaries_are_reported_as_none(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "empty")}

    assert find_binaries(env=env, cache=tmp_path / "cache") == {
        "kube-apiserver": None,
        "etcd": None,
    }


def test_the_cache_folder_can_be_moved_by_environment(tmp_path: Path) -> None:
    assert cache_root({"GATEKEEPER_DEV_CLUSTER_CACHE": str(tmp_path)}) == tmp_path
    assert cache_root({}).parts[-2:] == ("gitops-gatekeeper", "kube")
