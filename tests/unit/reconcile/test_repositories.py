"""Rendering from the whole repository: Kustomize bases, components and generators reached from
an overlay, what is refused (remote bases, paths outside), Helm values files and locked
dependencies fetched from a real (loopback) Helm repository, and dependsOn ordering."""

from __future__ import annotations

import importlib.util
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.reconcile import depends, render
from gatekeeper.reconcile.errors import DependencyRefused, ReconcileError, RenderError
from gatekeeper.reconcile.gitsource import check_sizes, exportable
from gatekeeper.reconcile.helmchart import HelmOptions
from gatekeeper.settings import ReconcilerLimits, SourceSettings
from tests.integration.reconcile.helmrepo import HelmRepo, chart_files, helm_repo

__all__ = ["helm_repo"]

EXAMPLE = Path(__file__).parents[3] / "examples" / "gitops-repo"
needs_helm = pytest.mark.skipif(
    importlib.util.find_spec("helm_python") is None, reason="the helm extra is not installed"
)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def kustomization(**fields: object) -> str:
    return yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", **fields})


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n"


def test_an_overlay_reaches_its_base_and_lists_every_file_it_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base/kustomization.yaml": kustomization(resources=["cm.yaml"]),
            "base/cm.yaml": CM,
            "overlays/prod/kustomization.yaml": kustomization(
                resources=["../../base"],
                namePrefix="prod-",
                patches=[{"path": "patch.yaml"}],
                configMapGenerator=[{"name": "gen", "files": ["conf=files/app.conf"]}],
            ),
            "overlays/prod/patch.yaml": CM.replace("blue", "red"),
            "overlays/prod/files/app.conf": "mode=prod\n",
            "unrelated/secret.yaml": CM,
        },
    )

    found = render.render(
        tmp_path / "overlays/prod",
        mode="auto",
        origin="overlays/prod",
        release="r",
        repo_root=tmp_path,
    )

    names = {o.manifest["metadata"]["name"]: o.manifest["data"] for o in found.objects}
    assert names["prod-settings"] == {"color": "red"}
    (generated,) = [n for n in names if n.startswith("prod-gen-")]
    assert names[generated] == {"conf": "mode=prod\n"}
    assert found.files == (
        "base/cm.yaml",
        "base/kustomization.yaml",
        "overlays/prod/files/app.conf",
        "overlays/prod/kustomization.yaml",
        "overlays/prod/patch.yaml",
    )


def test_a_component_is_read_from_beside_the_overlay(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": kustomization(
                resources=["cm.yaml"], components=["../components/label"]
            ),
            "app/cm.yaml": CM,
            "components/label/kustomization.yaml": yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1alpha1",
                    "kind": "Component",
                    "commonAnnotations": {"team": "shop"},
                }
            ),
        },
    )

    found = render.render(
        tmp_path / "app", mode="kustomize", origin="app", release="r", repo_root=tmp_path
    )

    (item,) = found.objects
    assert item.manifest["metadata"]["annotations"] == {"team": "shop"}
    assert "components/label/kustomization.yaml" in found.files


@pytest.mark.parametrize(
    "reference",
    [
        "https://github.com/example/gitops//base?ref=v1",
        "github.com/example/gitops/base?ref=main",
        "git@github.com:example/gitops.git//base",
        "https://example.com/manifests/cm.yaml",
    ],
)
def test_a_remote_base_is_refused_with_a_clear_message(tmp_path: Path, reference: str) -> None:
    write(tmp_path, {"app/kustomization.yaml": kustomization(resources=[reference])})

    with pytest.raises(RenderError, match="is a remote base; only what the signed commit holds"):
        render.render(
            tmp_path / "app", mode="kustomize", origin="app", release="r", repo_root=tmp_path
        )


def test_a_base_outside_the_repository_is_refused_even_where_the_disk_has_one(
    tmp_path: Path,
) -> None:
    # kustomize itself would load it: the folder exists, beside the exported repository.
    write(tmp_path, {"elsewhere/kustomization.yaml": kustomization(resources=["cm.yaml"])})
    write(tmp_path, {"elsewhere/cm.yaml": CM})
    repo = tmp_path / "repo"
    write(repo, {"app/kustomization.yaml": kustomization(resources=["../../elsewhere"])})

    with pytest.raises(RenderError, match=r"\.\./\.\./elsewhere is outside the repository"):
        render.render(repo / "app", mode="kustomize", origin="app", release="r", repo_root=repo)


def test_a_generator_file_outside_the_repository_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": kustomization(
                configMapGenerator=[{"name": "x", "files": ["/etc/hostname"]}]
            )
        },
    )

    with pytest.raises(RenderError, match="absolute path, outside the repository"):
        render.render(
            tmp_path / "app", mode="kustomize", origin="app", release="r", repo_root=tmp_path
        )


# -- Helm ----------------------------------------------------------------------------------------


@needs_helm
def test_values_files_merge_in_order_then_inline_values(tmp_path: Path) -> None:
    write(tmp_path, {f"charts/shop/{k}": v for k, v in chart_files("shop", "0.1.0").items()})
    write(
        tmp_path,
        {
            "env/common.yaml": "greeting: common\n",
            "env/prod.yaml": "greeting: prod\n",
        },
    )
    options = HelmOptions(
        release="web",
        namespace="prod",
        values_files=("env/common.yaml", "env/prod.yaml"),
    )

    found = render.render(
        tmp_path / "charts/shop",
        mode="helm",
        origin="charts/shop",
        release="ignored",
        repo_root=tmp_path,
        helm=options,
    )

    (item,) = found.objects
    assert item.manifest["metadata"]["name"] == "web-shop"
    assert item.manifest["data"]["greeting"] == "prod"
    assert {"env/common.yaml", "env/prod.yaml", "charts/shop/Chart.yaml"} <= set(found.files)
    inline = HelmOptions(release="web", values_files=("env/prod.yaml",), values={"greeting": "x"})
    again = render.render(
        tmp_path / "charts/shop",
        mode="helm",
        origin="charts/shop",
        release="r",
        repo_root=tmp_path,
        helm=inline,
    )
    assert again.objects[0].manifest["data"]["greeting"] == "x"


@needs_helm
def test_a_values_file_outside_the_repository_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {f"chart/{k}": v for k, v in chart_files("shop", "0.1.0").items()})
    options = HelmOptions(release="r", values_files=("../../etc/passwd",))

    with pytest.raises(RenderError, match=r"valuesFiles\[0\]: \.\./\.\./etc/passwd is outside"):
        render.render(
            tmp_path / "chart",
            mode="helm",
            origin="chart",
            release="r",
            repo_root=tmp_path,
            helm=options,
        )


def _chart_with_dependency(root: Path, repo: HelmRepo, pinned: str | None) -> Path:
    chart = root / "charts/app"
    files = chart_files("app", "1.0.0")
    files["Chart.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "v2",
            "name": "app",
            "version": "1.0.0",
            "dependencies": [{"name": "common", "version": "2.0.0", "repository": repo.url}],
        }
    )
    entry: dict[str, str] = {"name": "common", "version": "2.0.0", "repository": repo.url}
    if pinned is not None:
        entry["digest"] = pinned
    files["Chart.lock"] = yaml.safe_dump({"dependencies": [entry], "digest": "sha256:" + "0" * 64})
    write(chart, files)
    return chart


@needs_helm
def test_a_locked_dependency_is_fetched_when_its_digest_matches(
    tmp_path: Path, helm_repo: HelmRepo
) -> None:
    pinned = helm_repo.publish("common", "2.0.0", greeting="from the repository")
    chart = _chart_with_dependency(tmp_path / "repo", helm_repo, pinned)
    options = HelmOptions(release="r", repositories=(helm_repo.url,), cache_dir=tmp_path / "cache")

    found = render.render(
        chart,
        mode="helm",
        origin="charts/app",
        release="r",
        repo_root=tmp_path / "repo",
        helm=options,
    )

    data = {o.manifest["metadata"]["name"]: o.manifest["data"] for o in found.objects}
    assert data["r-common"]["greeting"] == "from the repository"
    (fetched,) = found.fetched
    assert fetched["digest"] == pinned
    assert fetched["url"] == f"{helm_repo.url}/common-2.0.0.tgz"
    assert "/charts/index.yaml" in helm_repo.requests


@needs_helm
def test_a_fetched_dependency_with_another_digest_is_refused(
    tmp_path: Path, helm_repo: HelmRepo
) -> None:
    signed_for = helm_repo.publish("common", "2.0.0", greeting="reviewed")
    helm_repo.publish("common", "2.0.0", greeting="swapped on the server")
    chart = _chart_with_dependency(tmp_path / "repo", helm_repo, signed_for)
    options = HelmOptions(release="r", repositories=(helm_repo.url,))

    with pytest.raises(DependencyRefused) as refused:
        render.render(
            chart,
            mode="helm",
            origin="charts/app",
            release="r",
            repo_root=tmp_path / "repo",
            helm=options,
        )

    reason = refused.value.reason
    assert reason["kind"] == "dependency"
    assert reason["expected"] == signed_for
    assert reason["actual"] != signed_for
    assert "but Chart.lock pins" in reason["message"]


@needs_helm
def test_a_dependency_from_a_repository_the_source_does_not_list_is_never_fetched(
    tmp_path: Path, helm_repo: HelmRepo
) -> None:
    pinned = helm_repo.publish("common", "2.0.0")
    chart = _chart_with_dependency(tmp_path / "repo", helm_repo, pinned)

    with pytest.raises(DependencyRefused, match="not in the source's helmRepositories"):
        render.render(
            chart,
            mode="helm",
            origin="charts/app",
            release="r",
            repo_root=tmp_path / "repo",
            helm=HelmOptions(release="r", repositories=("https://charts.example.com",)),
        )
    assert helm_repo.requests == []


@needs_helm
def test_a_lock_without_an_archive_digest_is_refused(tmp_path: Path, helm_repo: HelmRepo) -> None:
    helm_repo.publish("common", "2.0.0")
    chart = _chart_with_dependency(tmp_path / "repo", helm_repo, None)

    with pytest.raises(RenderError, match="pins no archive digest"):
        render.render(
            chart,
            mode="helm",
            origin="charts/app",
            release="r",
            repo_root=tmp_path / "repo",
            helm=HelmOptions(release="r", repositories=(helm_repo.url,)),
        )


@needs_helm
def test_a_vendored_dependency_needs_no_repository(tmp_path: Path, helm_repo: HelmRepo) -> None:
    helm_repo.publish("common", "2.0.0", greeting="vendored")
    chart = _chart_with_dependency(tmp_path / "repo", helm_repo, None)
    (chart / "charts").mkdir()
    shutil.copy(helm_repo.folder / "common-2.0.0.tgz", chart / "charts")
    helm_repo.requests.clear()

    found = render.render(
        chart, mode="helm", origin="charts/app", release="r", repo_root=tmp_path / "repo"
    )

    assert {o.manifest["metadata"]["name"] for o in found.objects} == {"r-app", "r-common"}
    assert found.fetched == ()
    assert helm_repo.requests == []


# -- dependsOn -----------------------------------------------------------------------------------


def _source(name: str, *needs: str) -> SourceSettings:
    return SourceSettings(name=name, repo=".", trust=Path("t.yaml"), dependsOn=list(needs))


def test_dependencies_come_first_in_a_pass() -> None:
    ordered = depends.order([_source("app", "db", "net"), _source("db", "net"), _source("net")])

    assert [s.name for s in ordered] == ["net", "db", "app"]


def test_a_cycle_or_an_unknown_dependency_is_refused() -> None:
    with pytest.raises(ReconcileError, match="cycle: a -> b -> a"):
        depends.order([_source("a", "b"), _source("b", "a")])
    with pytest.raises(ReconcileError, match="names no source 'ghost'"):
        depends.order([_source("a", "ghost")])
    with pytest.raises(ValueError, match="cannot depend on itself"):
        _source("a", "a")


def _record(seq: int, kind: str, commit: str) -> Record:
    from datetime import UTC, datetime

    return Record(
        seq=seq,
        time=datetime.now(UTC),
        kind=kind,
        actor="r",
        subject="source/db",
        source="db",
        commit=commit,
        payload={},
        prev_hash="",
        hash="",
    )


def test_a_dependency_is_ready_only_when_its_synced_commit_is_healthy() -> None:
    applied = _record(5, events.SYNC_APPLIED, "c2")

    assert depends.not_ready("db", None, None) == "db has not synced yet"
    assert "not judged healthy yet" in str(
        depends.not_ready("db", applied, _record(3, "sync.healthy", "c1"))
    )
    assert "is unhealthy" in str(
        depends.not_ready("db", applied, _record(6, "sync.unhealthy", "c2"))
    )
    assert depends.not_ready("db", applied, _record(6, "sync.healthy", "c2")) is None


def test_the_example_repository_renders_every_environment(tmp_path: Path) -> None:
    for path in ("apps/web/overlays/staging", "apps/web/overlays/production"):
        found = render.render(
            EXAMPLE / path, mode="auto", origin=path, release="r", repo_root=EXAMPLE
        )
        kinds = sorted(o.manifest["kind"] for o in found.objects)
        assert kinds == ["ConfigMap", "Deployment", "Namespace", "Service"]
        assert "apps/web/base/deployment.yaml" in found.files
        (deployment,) = [o.manifest for o in found.objects if o.manifest["kind"] == "Deployment"]
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert "@sha256:" in image and ":latest" not in image


def _link(name: str, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.SYMTYPE
    member.linkname = target
    return member


def test_a_link_out_of_the_repository_is_refused_under_the_source_and_left_out_elsewhere() -> None:
    inside = _link("apps/web/base/cm.yaml", "../../shared/cm.yaml")
    elsewhere = _link("tools/passwd", "../../etc/passwd")

    kept = exportable([inside, elsewhere], "apps/web/overlays/prod")

    assert kept == [inside]
    with pytest.raises(RenderError, match="outside the repository"):
        exportable([elsewhere], "tools")
    with pytest.raises(RenderError, match="absolute path /etc/passwd"):
        exportable([_link("apps/x.yaml", "/etc/passwd")], ".")


def test_a_file_over_the_limit_is_refused_under_the_source_and_left_out_elsewhere() -> None:
    limits = ReconcilerLimits(maxFileBytes=1024)
    blobs = [("apps/web/cm.yaml", 100), ("assets/video.mp4", 5000)]

    assert check_sizes(blobs, limits, "apps/web") == ["assets/video.mp4"]
    with pytest.raises(RenderError, match=r"assets/video\.mp4: 5000 bytes, over the limit"):
        check_sizes(blobs, limits, "assets")


def test_files_outside_the_source_never_reject_it_and_are_left_out_when_they_overflow() -> None:
    limits = ReconcilerLimits(maxFileBytes=1024, maxTotalBytes=2048, maxFiles=4)
    blobs = [
        ("apps/web/cm.yaml", 500),
        ("base/deploy.yaml", 400),
        ("team-b/a.yaml", 1000),
        ("team-b/b.yaml", 1000),
    ]

    # The smallest outside files fit beside the source's own; the rest are left out.
    assert check_sizes(blobs, limits, "apps/web") == ["team-b/b.yaml"]
    assert check_sizes(blobs, limits, "team-b") == ["apps/web/cm.yaml", "base/deploy.yaml"]
    crowded = [(f"apps/web/f{i}.yaml", 10) for i in range(5)]
    with pytest.raises(RenderError, match=r"5 files, over the limit of 4"):
        check_sizes(crowded, limits, "apps/web")
    full = [("apps/web/a.yaml", 1000), ("apps/web/b.yaml", 1000), ("apps/web/c.yaml", 100)]
    with pytest.raises(RenderError, match=r"total 2100 bytes, over the limit of 2048"):
        check_sizes(full, limits, "apps/web")
