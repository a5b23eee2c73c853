"""Hostile commits against a real pass: each is refused and recorded, a healthy source beside it
syncs, and the loop goes on."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.verify import verify_store
from gatekeeper.kube import contract
from gatekeeper.kube.errors import KubeError
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile.reconciler import Reconciler
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]"
        for i in range(1, 9)
    ]
)


def _pair(harness: Harness) -> tuple[Reconciler, str]:
    """A reconciler over the healthy source (`apps/`) and a second one on `hostile/`."""
    hostile = harness.source(name=f"{harness.name}-h", path="hostile")
    reconciler = harness.reconciler(harness.source(), hostile)
    harness.commit(
        {
            "apps/a.yaml": config_map("healthy", {"k": "v"}),
            "hostile/ok.yaml": config_map("hostile-ok", {"k": "v"}),
        }
    )
    assert [r.outcome for r in reconciler.run_once()] == ["applied", "applied"]
    return reconciler, hostile.name


def _commit_raw(harness: Harness, files: dict[str, bytes], links: dict[str, str]) -> str:
    """Commit bytes and symbolic links as they are (the fixture writes text only), signed."""
    for name, data in files.items():
        target = harness.repo.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name, where in links.items():
        target = harness.repo.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(where, target)
    return harness.commit({})


def _healthy_at(harness: Harness, commit: str) -> None:
    live = harness.core().read_namespaced_config_map("healthy", harness.namespace)
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == commit


def test_an_unquoted_date_is_applied_as_the_text_kubectl_would_send(harness: Harness) -> None:
    reconciler, _ = _pair(harness)
    sha = harness.commit(
        {
            "hostile/released.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: released}\n"
            "data:\n  released: 2024-01-01\n  port: !!str 8080\n"
        }
    )

    outcomes = [result.outcome for result in reconciler.run_once()]

    assert outcomes == ["applied", "applied"]
    live = harness.core().read_namespaced_config_map("released", harness.namespace)
    assert live.data == {"released": "2024-01-01", "port": "8080"}
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == sha


@pytest.mark.parametrize("text", ["launch \U0001f680 caf\u00e9", "c1 \x85\x9f del \x7f \ufeff"])
def test_any_text_reaches_the_cluster_unchanged(harness: Harness, text: str) -> None:
    # The server reads an apply body as YAML, which refuses JSON's surrogate escapes and
    # some characters raw.
    harness.commit({"apps/a.yaml": config_map("text", {"k": text})})

    assert harness.reconciler().reconcile(harness.name).outcome == "applied"

    live = harness.core().read_namespaced_config_map("text", harness.namespace)
    assert live.data == {"k": text}


def test_yaml_is_read_as_the_api_server_reads_it(harness: Harness) -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME, namespace: NS}\ndata:\n"
        "  n: 'a bare n is false'\n  on: 'and on is true'\n  1: 'an int key'\n"
        "  2.5: 'a float key'\n  released: 2024-01-01\n  minutes: 1:20\n"
        "  tagged: !foo ignored-tag\n  bytes: !!binary aGVsbG8=\n"
    ).replace("NS", harness.namespace)
    harness.commit({"apps/probe.yaml": text.replace("NAME", "ours")})
    assert harness.reconciler().reconcile(harness.name).outcome == "applied"

    # The same text, read by kube-apiserver itself (an apply body is YAML to it).
    harness.kube.request(
        "PATCH",
        f"/api/v1/namespaces/{harness.namespace}/configmaps/theirs",
        query={"fieldManager": "probe"},
        body=text.replace("NAME", "theirs").encode(),
        content_type="application/apply-patch+yaml",
    )

    ours = harness.core().read_namespaced_config_map("ours", harness.namespace).data
    theirs = harness.core().read_namespaced_config_map("theirs", harness.namespace).data
    assert ours == theirs
    assert ours["false"] == "a bare n is false"
    assert ours["released"] == "2024-01-01"


@pytest.mark.parametrize(
    ("files", "links", "fragment"),
    [
        ({}, {"hostile/passwd.yaml": "/etc/passwd"}, "symbolic link to the absolute path"),
        ({}, {"hostile/up.yaml": "../../../../etc/hostname"}, "outside the repository"),
        (
            {},
            {"hostile/x.yaml": "../elsewhere/up.yaml", "elsewhere/up.yaml": "../../etc/passwd"},
            "hostile/x.yaml: cannot read",
        ),
        ({"hostile/bomb.yaml": _BOMB.encode()}, {}, "a YAML bomb"),
        ({"hostile/deep.yaml": b"a: " + b"[" * 5000}, {}, "nest"),
        ({"hostile/latin1.yaml": b"kind: Caf\xe9\n"}, {}, "not UTF-8 text"),
        ({"hostile/dup.yaml": b"apiVersion: v1\nkind: ConfigMap\nkind: Secret\n"}, {}, "twice"),
        ({"hostile/nan.yaml": b"apiVersion: v1\nkind: ConfigMap\nx: .nan\n"}, {}, "JSON"),
    ],
)
def test_a_hostile_commit_is_rejected_with_its_reason_while_the_other_source_syncs(
    harness: Harness, files: dict[str, bytes], links: dict[str, str], fragment: str
) -> None:
    reconciler, hostile = _pair(harness)
    sha = _commit_raw(harness, files, links)

    results = reconciler.run_once()

    assert [(r.source, r.outcome) for r in results] == [
        (harness.name, "applied"),
        (hostile, "rejected"),
    ]
    _healthy_at(harness, sha)
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert (rejected.source, rejected.commit) == (hostile, sha)
    (reason,) = rejected.payload["reasons"]
    assert reason["kind"] == "render"
    assert fragment in reason["message"]
    assert Ledger(harness.store).verified_commit(hostile, sha) is None
    assert verify_store(harness.store, None).ok


def test_an_object_over_the_size_limit_is_refused_by_name_and_size_and_never_reaches_the_ledger(
    harness: Harness,
) -> None:
    reconciler, hostile = _pair(harness)
    sha = harness.commit({"hostile/big.yaml": config_map("big", {"blob": "x" * (2 * 1024 * 1024)})})

    results = reconciler.run_once()

    assert [r.outcome for r in results] == ["applied", "rejected"]
    (rejected,) = harness.records(events.SYNC_REJECTED)
    message = rejected.payload["reasons"][0]["message"]
    assert message.startswith("hostile/big.yaml (document 1): ConfigMap big is 20")
    assert "over the limit of 1572864 per object" in message
    key = ObjectKey("", "ConfigMap", harness.namespace, "big")
    assert Ledger(harness.store).desired(hostile, sha, key) is None
    with pytest.raises(ApiException):
        harness.core().read_namespaced_config_map("big", harness.namespace)


def test_an_apply_the_api_server_refuses_is_recorded_with_the_servers_message(
    harness: Harness,
) -> None:
    reconciler, hostile = _pair(harness)
    sha = harness.commit(
        {
            "hostile/count.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            "data: {count: 1}\n"
        }
    )

    results = reconciler.run_once()

    assert [r.outcome for r in results] == ["applied", "failed"]
    (failed,) = harness.records(events.SYNC_FAILED)
    assert (failed.source, failed.commit) == (hostile, sha)
    error = failed.payload["error"]
    assert "expected string" in error
    assert "unreachable" not in error


def test_a_request_over_the_api_servers_limit_is_a_413_not_an_unreachable_server(
    harness: Harness,
) -> None:
    resource = harness.kube.resource_for("v1", "ConfigMap")

    def apply(size: int) -> KubeError:
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"big-{size}", "namespace": harness.namespace},
            "data": {"x": "a" * size},
        }
        with pytest.raises(KubeError) as refused:
            harness.kube.apply(manifest, resource)
        return refused.value

    answered = apply(4 * 1024 * 1024)
    assert answered.status == 413
    assert "Request entity too large" in str(answered)

    cut_off = apply(40 * 1024 * 1024)
    assert cut_off.status == 413
    assert not cut_off.transient
    assert "over the API server's limit" in str(cut_off)


def test_a_forged_managed_object_is_never_pruned_and_never_recorded_as_pruned(
    harness: Harness,
) -> None:
    first = harness.commit(
        {
            "apps/keep.yaml": config_map("keep", {"k": "v"}),
            "apps/gone.yaml": config_map("gone", {"k": "v"}),
        }
    )
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"
    # Where the webhook does not look (an exempt namespace, or no webhook at all), anyone
    # can write the reconciler's label and annotations on an object of their own.
    harness.core().create_namespaced_config_map(
        harness.namespace,
        {
            "metadata": {
                "name": "forged",
                "labels": {contract.MANAGED_LABEL: "true"},
                "annotations": {
                    contract.SOURCE_ANNOTATION: harness.name,
                    contract.COMMIT_ANNOTATION: first,
                },
            },
            "data": {"mine": "yes"},
        },
    )

    second = harness.commit({"apps/gone.yaml": None})
    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.pruned) == ("applied", 1)
    forged = harness.core().read_namespaced_config_map("forged", harness.namespace)
    assert forged.data == {"mine": "yes"}
    assert [(r.subject, r.commit) for r in harness.records(events.PRUNED)] == [
        (f"ConfigMap/{harness.namespace}/gone", second)
    ]
    assert reconciler.reconcile(harness.name).outcome == "unchanged"
    assert harness.core().read_namespaced_config_map("forged", harness.namespace).data


def test_the_loop_outlives_a_hostile_source_and_keeps_syncing_the_healthy_one(
    harness: Harness, tmp_path: Path
) -> None:
    hostile = harness.source(name=f"{harness.name}-h", path="hostile", interval=0.2)
    reconciler = harness.reconciler(harness.source(interval=0.2), hostile)
    _commit_raw(harness, {"hostile/bomb.yaml": _BOMB.encode()}, {"hostile/l.yaml": "/etc"})
    harness.commit({"apps/a.yaml": config_map("healthy", {"k": "v"})})
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not harness.records(events.SYNC_APPLIED):
            time.sleep(0.1)
        later = harness.commit({"apps/a.yaml": config_map("healthy", {"k": "w"})})
        while time.monotonic() < deadline:
            live = harness.core().read_namespaced_config_map("healthy", harness.namespace)
            if live.metadata.annotations[contract.COMMIT_ANNOTATION] == later:
                break
            time.sleep(0.1)
        assert loop.is_alive()
        _healthy_at(harness, later)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()
    rejected = harness.records(events.SYNC_REJECTED)
    assert {r.source for r in rejected} == {hostile.name}
    assert all(r.payload["reasons"] for r in rejected)
