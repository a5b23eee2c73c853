"""Property: whatever a signed commit holds, a real pass returns, records it, and the healthy
source beside it syncs.

Generated hostile repositories (YAML bombs, deep nesting, files and objects over the limits,
dates, `!!binary`, invalid UTF-8, documents that are not objects, duplicate keys, symbolic links
out of and inside the repository, odd kustomizations, random bytes) are committed, signed, to a
real Git repository and reconciled against the real API server, one commit per example, by one
reconciler that lives through them all.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.audit import events
from gatekeeper.audit.verify import verify_store
from gatekeeper.kube import contract
from gatekeeper.settings import ReconcilerLimits
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

LIMITS = ReconcilerLimits(
    max_file_bytes=16 * 1024,
    max_total_bytes=64 * 1024,
    max_files=40,
    max_object_bytes=8 * 1024,
    max_documents=50,
    max_yaml_aliases=20,
    max_yaml_alias_nodes=500,
    max_yaml_depth=30,
)
Expect = Literal["refused", "accepted", "any"]


@dataclass(frozen=True)
class Case:
    """What one commit puts under `hostile/`, and what a pass must make of it."""

    what: str
    expect: Expect
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def _cm(name: str, body: str) -> bytes:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n{body}".encode()


def _bomb(levels: int, fanout: int) -> bytes:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * fanout) + "]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * fanout)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return _cm("bomb", "data:\n  " + "\n  ".join(lines) + "\n")


bombs = st.builds(
    lambda levels, fanout: Case("bomb", "refused", {"hostile/bomb.yaml": _bomb(levels, fanout)}),
    st.integers(4, 9),
    st.integers(4, 9),
)
deep = st.builds(
    lambda depth, flow: Case(
        "deep",
        "refused",
        {
            "hostile/deep.yaml": (
                b"a: " + b"[" * depth + b"]" * depth
                if flow
                else b"".join(b"  " * i + b"k:\n" for i in range(depth)) + b"  " * depth + b"v\n"
            )
        },
    ),
    st.integers(LIMITS.max_yaml_depth + 1, 2000),
    st.booleans(),
)
huge_file = st.builds(
    lambda size: Case("huge file", "refused", {"hostile/huge.yaml": b"# " + b"x" * size + b"\n"}),
    st.integers(LIMITS.max_file_bytes, 3 * LIMITS.max_file_bytes),
)
too_much = st.builds(
    lambda count: Case(
        "total size",
        "refused",
        {f"hostile/f{i}.yaml": b"#" * (15 * 1024) for i in range(count)},
    ),
    st.integers(5, 8),
)
big_object = st.builds(
    lambda size: Case(
        "big object", "refused", {"hostile/big.yaml": _cm("big", f"data: {{x: {'y' * size}}}\n")}
    ),
    st.integers(LIMITS.max_object_bytes, 2 * LIMITS.max_object_bytes - 200),
)
many_documents = st.builds(
    lambda count: Case(
        "documents",
        "refused",
        {"hostile/many.yaml": b"---\n".join(_cm(f"d{i}", "") for i in range(count))},
    ),
    st.integers(LIMITS.max_documents + 1, 120),
)
dates = st.builds(
    lambda day: Case(
        "date",
        "accepted",
        {"hostile/date.yaml": _cm("dated", f"data:\n  released: {day.isoformat()}\n")},
    ),
    st.dates(),
)
binary = st.builds(
    lambda data: Case(
        "binary",
        "accepted" if _is_text(data) else "refused",
        {"hostile/bin.yaml": _cm("bin", f"data:\n  b: !!binary {_b64(data)}\n")},
    ),
    st.binary(max_size=64) | st.text(max_size=20).map(str.encode),
)
not_utf8 = st.builds(
    lambda junk: Case(
        "latin-1", "refused", {"hostile/latin1.yaml": _cm("l", "data: {k: ") + junk + b"}\n"}
    ),
    st.sampled_from([b"\xe9t\xe9", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"]),
)
not_objects = st.builds(
    lambda text: Case("not an object", "refused", {"hostile/odd.yaml": text.encode()}),
    st.sampled_from(["- a\n- b\n", "42\n", "just text\n", "true\n", "[1, 2]\n", "!!set {a}\n"]),
)
duplicates = st.builds(
    lambda key: Case(
        "duplicate key",
        "refused",
        {"hostile/dup.yaml": _cm("dup", f"data:\n  {key}: a\n  {key}: b\n")},
    ),
    st.sampled_from(["k", "color", "'1'"]),
)
incomplete = st.builds(
    lambda text: Case("incomplete", "refused", {"hostile/inc.yaml": text.encode()}),
    st.sampled_from(
        [
            "kind: ConfigMap\nmetadata: {name: x}\n",
            "apiVersion: v1\nmetadata: {name: x}\n",
            "apiVersion: v1\nkind: ConfigMap\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 3}\n",
            "apiVersion: [v1]\nkind: ConfigMap\nmetadata: {name: x}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: [a]}\n",
        ]
    ),
)
not_json = st.builds(
    lambda value: Case(
        "not JSON", "refused", {"hostile/nan.yaml": _cm("n", f"data: {{k: {value}}}\n")}
    ),
    st.sampled_from([".nan", ".inf", "-.Inf", "!!int nope", "!!binary '***'", "*nowhere"]),
)
wrong_type = st.builds(
    lambda value: Case(
        "wrong type", "refused", {"hostile/typed.yaml": _cm("t", f"data: {{k: {value}}}\n")}
    ),
    st.sampled_from(["1", "true", "1.5", "[a]", "{a: b}"]),
)
links_out = st.builds(
    lambda target: Case("link out", "refused", links={"hostile/out.yaml": target}),
    st.sampled_from(
        ["/etc/passwd", "/", "/proc/self/environ", "../../etc/hostname", "../apps/a.yaml", ".."]
    )
    | st.integers(2, 6).map(lambda n: "../" * n + "etc/passwd"),
)
links_in = st.builds(
    lambda name: Case(
        "link in",
        "accepted",
        {"hostile/real/cm.txt": _cm(name, "data: {k: v}\n")},
        {"hostile/link.yaml": "real/cm.txt"},
    ),
    st.sampled_from(["linked", "linked-too"]),
)
kustomizations = st.builds(
    lambda text: Case("kustomization", "refused", {"hostile/kustomization.yaml": text.encode()}),
    st.sampled_from(
        [
            "resources: [https://example.invalid/x.yaml]\n",
            "resources: [github.com/example/repo//base?ref=main]\n",
            "resources: [/etc/passwd]\n",
            "resources: [../../../etc]\n",
            "- not\n- a mapping\n",
            "resources: [missing.yaml]\n",
            "kind: Kustomization\nresources: &r [*r]\n",
        ]
    )
    | bombs.map(lambda case: case.files["hostile/bomb.yaml"].decode()),
)
random_bytes = st.builds(
    lambda data: Case("random bytes", "any", {"hostile/random.yaml": data}),
    st.binary(min_size=1, max_size=2000),
)
hostile = st.one_of(
    bombs,
    deep,
    huge_file,
    too_much,
    big_object,
    many_documents,
    dates,
    binary,
    not_utf8,
    not_objects,
    duplicates,
    incomplete,
    not_json,
    wrong_type,
    links_out,
    links_in,
    kustomizations,
    random_bytes,
)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _b64(data: bytes) -> str:
    import base64

    return "'" + base64.b64encode(data).decode() + "'"


def _write(harness: Harness, case: Case) -> str:
    """Replace `hostile/` by the case's files and links; commit, signed."""
    folder = harness.repo.path / "hostile"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name, data in case.files.items():
        target = harness.repo.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name, where in case.links.items():
        os.symlink(where, harness.repo.path / name)
    return harness.commit({})


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
# A huge generated file makes a large repr when hypothesis reports a failing example; the
# warning about it must not hide the failure itself.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_no_generated_hostile_commit_stops_a_pass_or_goes_unrecorded(harness: Harness) -> None:
    hostile_source = harness.source(name=f"{harness.name}-h", path="hostile")
    reconciler = harness.reconciler(harness.source(), hostile_source, limits=LIMITS)
    harness.commit(
        {
            "apps/a.yaml": config_map("healthy", {"k": "v"}),
            "hostile/ok.yaml": config_map("hostile-ok", {"k": "v"}),
        }
    )
    assert [r.outcome for r in reconciler.run_once()] == ["applied", "applied"]
    seen: list[str] = []

    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(hostile)
    def one_commit(case: Case) -> None:
        sha = _write(harness, case)

        healthy, bad = reconciler.run_once()

        seen.append(case.what)
        assert (healthy.outcome, healthy.commit) == ("applied", sha), healthy.message
        live = harness.core().read_namespaced_config_map("healthy", harness.namespace)
        assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == sha
        kind = {
            "applied": events.SYNC_APPLIED,
            "rejected": events.SYNC_REJECTED,
            "failed": events.SYNC_FAILED,
        }[bad.outcome]
        records = [
            r for r in harness.records(kind) if r.source == hostile_source.name and r.commit == sha
        ]
        assert len(records) == 1, (case.what, bad)
        if case.expect == "refused":
            assert bad.outcome in ("rejected", "failed"), (case.what, bad)
        elif case.expect == "accepted":
            assert bad.outcome == "applied", (case.what, bad)
        if bad.outcome == "rejected":
            reasons = records[0].payload["reasons"]
            assert reasons and all(reason["message"] for reason in reasons)
        if bad.outcome == "failed":
            assert records[0].payload["error"]
        assert verify_store(harness.store, None).ok

    one_commit()
    assert len(seen) >= 10
    assert yaml.safe_dump(sorted(set(seen)))  # which kinds ran shows in a failure's locals
