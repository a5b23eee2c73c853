"""OPA bundles: plain and signed, and every way a bundle is refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gatekeeper.policy.bundle import BundleError, canonical_json, file_digest, read_bundle
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import sync_input
from gatekeeper.policy.jws import VerificationKey
from gatekeeper.policy.policyset import load_policy_set
from tests.unit.policy import bundles
from tests.unit.policy.bundles import basic_files, public_pem, rsa_key, signatures, tar_gz

KEY = rsa_key()
OTHER = rsa_key()


def _pod(image: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def _rsa(key: object = KEY, **kwargs: str) -> VerificationKey:
    return VerificationKey(algorithm="RS256", material=public_pem(key), **kwargs)  # type: ignore[arg-type]


def _signed(files: dict[str, bytes], key: object = KEY, **kwargs: object) -> bytes:
    return tar_gz({**files, ".signatures.json": signatures(files, key, **kwargs)})  # type: ignore[arg-type]


def test_a_plain_bundle_loads_as_opa_mounts_it() -> None:
    bundle = read_bundle(tar_gz(basic_files()), label="authz.tar.gz")
    assert bundle.revision == "r1"
    assert bundle.roots == ("authz",)
    assert not bundle.signed
    assert [m.path for m in bundle.modules] == ["authz.tar.gz#authz/images.rego"]
    policy_set = load_policy_set([], bundles=[bundle])
    assert policy_set.data == {"authz": {"registry": "registry.example.com/"}}
    assert [p.id for p in policy_set.policies] == ["authz.images"]


@pytest.mark.parametrize("engine", ["regorus", "opa"])
def test_a_bundle_decides_on_both_engines(engine: str) -> None:
    if engine == "opa":
        pytest.importorskip("opa_bindings")
    bundle = read_bundle(_signed(basic_files()), label="authz.tar.gz", key=_rsa())
    evaluator = PolicyEvaluator(
        engine=create_engine(engine), policy_set=load_policy_set([], bundles=[bundle])
    )
    assert evaluator.evaluate(sync_input(_pod("registry.example.com/web:1"))).allowed
    denied = evaluator.evaluate(sync_input(_pod("docker.io/web:1")))
    assert not denied.allowed
    assert [m.policy for m in denied.messages] == ["authz.images"]


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "HS256"])
def test_a_signed_bundle_verifies_with_each_algorithm(alg: str) -> None:
    if alg == "HS256":
        signing: object = b"a shared secret of some length"
        material = b"a shared secret of some length"
    elif alg == "ES256":
        signing = ec.generate_private_key(ec.SECP256R1())
        material = public_pem(signing)
    else:
        signing, material = KEY, public_pem(KEY)
    key = VerificationKey(algorithm=alg, material=material)  # type: ignore[arg-type]
    bundle = read_bundle(_signed(basic_files(), signing, alg=alg), label="b", key=key)
    assert bundle.signed


def test_a_tampered_file_is_refused() -> None:
    files = basic_files()
    sigs = signatures(files, KEY)
    files["authz/images.rego"] = bundles.POLICY.replace(b"deny contains", b"warn contains")
    archive = tar_gz({**files, ".signatures.json": sigs})
    with pytest.raises(BundleError, match=r"b#authz/images.rego: digest mismatch"):
        read_bundle(archive, label="b", key=_rsa())


def test_tampered_data_is_refused_and_reformatting_is_not_tampering() -> None:
    files = basic_files()
    sigs = signatures(files, KEY)
    reformatted = json.dumps({"registry": "registry.example.com/"}).encode()
    read_bundle(
        tar_gz({**files, "authz/data.json": reformatted, ".signatures.json": sigs}),
        label="b",
        key=_rsa(),
    )
    changed = json.dumps({"registry": "docker.io/"}).encode()
    with pytest.raises(BundleError, match=r"authz/data.json: digest mismatch"):
        read_bundle(
            tar_gz({**files, "authz/data.json": changed, ".signatures.json": sigs}),
            label="b",
            key=_rsa(),
        )


def test_a_bundle_signed_with_another_key_is_refused() -> None:
    with pytest.raises(BundleError, match="does not verify with the configured key"):
        read_bundle(_signed(basic_files(), OTHER), label="b", key=_rsa())


def test_an_unsigned_bundle_is_refused_when_a_key_is_configured() -> None:
    with pytest.raises(BundleError, match=r"no \.signatures\.json"):
        read_bundle(tar_gz(basic_files()), label="b", key=_rsa())


def test_a_file_the_signature_does_not_list_is_refused() -> None:
    files = basic_files()
    sigs = signatures(files, KEY)
    extra = b"package authz.extra\n\nimport rego.v1\n\ndeny contains 1 if false\n"
    archive = tar_gz({**files, "authz/extra.rego": extra, ".signatures.json": sigs})
    with pytest.raises(BundleError, match=r"authz/extra\.rego: not listed"):
        read_bundle(archive, label="b", key=_rsa())


def test_a_listed_file_missing_from_the_archive_is_refused() -> None:
    files = basic_files()
    sigs = signatures(files, KEY)
    del files["authz/data.json"]
    with pytest.raises(BundleError, match="signed files missing from the archive"):
        read_bundle(tar_gz({**files, ".signatures.json": sigs}), label="b", key=_rsa())


def test_an_algorithm_the_key_is_not_for_is_refused() -> None:
    secret = public_pem(KEY)  # HMAC keyed with the public key: the classic confusion
    archive = _signed(basic_files(), secret, alg="HS256")
    with pytest.raises(BundleError, match="signed with 'HS256', the key is for RS256"):
        read_bundle(archive, label="b", key=_rsa())


def test_scope_and_key_id_must_match() -> None:
    archive = _signed(basic_files(), extra={"keyid": "team", "scope": "write"})
    assert read_bundle(archive, label="b", key=_rsa(key_id="team", scope="write")).key_id == "team"
    with pytest.raises(BundleError, match="scope"):
        read_bundle(archive, label="b", key=_rsa(key_id="team"))
    with pytest.raises(BundleError, match="key id"):
        read_bundle(archive, label="b", key=_rsa(key_id="other", scope="write"))


@pytest.mark.parametrize("name", ["../escape.rego", "/authz/../../x.rego", "a/../../b.rego"])
def test_a_path_outside_the_bundle_is_refused(name: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(BundleError, match="a path outside the bundle"):
        read_bundle(buffer.getvalue(), label="b")


def test_links_are_refused() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("authz/data.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(BundleError, match="not a regular file"):
        read_bundle(buffer.getvalue(), label="b")


def test_a_package_outside_the_roots_is_refused() -> None:
    files = basic_files()
    files["other/p.rego"] = b"package other.p\n\nimport rego.v1\n\ndeny contains 1 if false\n"
    with pytest.raises(BundleError, match=r"b#other/p.rego: other/p is outside"):
        read_bundle(tar_gz(files), label="b")


def test_not_a_bundle_and_v0_bundles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a gzip-compressed tar"):
        read_bundle(b"plain text", label="b")
    files = basic_files()
    files[".manifest"] = json.dumps({"rego_version": 0}).encode()
    with pytest.raises(BundleError, match="rego_version 0"):
        read_bundle(tar_gz(files), label="b")


def test_bundle_data_that_clashes_with_folder_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("authz:\n  registry: other/\n")
    bundle = read_bundle(tar_gz(basic_files()), label="b")
    with pytest.raises(PolicyLoadError, match=r"data.authz.registry is defined twice"):
        load_policy_set([tmp_path], bundles=[bundle])


def test_canonical_json_keeps_numbers_as_written_and_escapes_as_go() -> None:
    value = json.loads('{"b": 1.50, "a": ["\\u2028", "é<>"]}', parse_float=_raw)
    assert canonical_json(value) == '{"a":["\\u2028","é<>"],"b":1.50}'
    content = b'{"b": 1, "a": 2}'
    assert file_digest("data.json", content, "SHA-256") == file_digest(
        "data.json", b'{"a":2,"b":1}', "SHA-256"
    )
    with pytest.raises(BundleError, match="digest algorithm 'MD5' not accepted"):
        file_digest("x.rego", b"", "MD5")


def _raw(text: str) -> object:
    from gatekeeper.policy.bundle import _Number

    return _Number(text)
