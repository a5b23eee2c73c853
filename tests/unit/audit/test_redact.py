"""Redaction: Secret data and sensitive fields never reach the store in clear."""

from __future__ import annotations

import hashlib
import json

from gatekeeper.audit.redact import LAST_APPLIED, digest_of, redact


def secret() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "annotations": {LAST_APPLIED: '{"data":{"password":"aHVudGVyMg=="}}', "team": "a"},
        },
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": "s3cr3t"},
        "type": "Opaque",
    }


def test_secret_data_is_replaced_by_digests() -> None:
    result = redact(secret())
    assert result["data"]["password"] == ("sha256:" + hashlib.sha256(b"aHVudGVyMg==").hexdigest())
    assert result["stringData"]["token"] == digest_of("s3cr3t")
    assert result["metadata"]["name"] == "db"
    assert result["type"] == "Opaque"


def test_the_last_applied_annotation_of_a_secret_is_digested_too() -> None:
    result = redact(secret())
    annotations = result["metadata"]["annotations"]
    assert annotations[LAST_APPLIED].startswith("sha256:")
    assert annotations["team"] == "a"


def test_secrets_nested_anywhere_are_redacted() -> None:
    review = {"request": {"object": secret(), "oldObject": secret()}, "items": [secret()]}
    text = json.dumps(redact(review))
    assert "aHVudGVyMg==" not in text
    assert "s3cr3t" not in text


def test_the_input_is_not_modified() -> None:
    original = secret()
    redact(original)
    assert original["data"] == {"password": "aHVudGVyMg=="}


def test_objects_that_are_not_secrets_keep_their_data() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}
    assert redact(config_map) == config_map


def test_listed_paths_are_digested_with_wildcards() -> None:
    payload = {
        "request": {"object": {"spec": {"password": "p", "user": "u"}}},
        "items": [{"token": "t1"}, {"token": "t2"}],
    }
    result = redact(payload, ["request.object.spec.password", "items.*.token", "absent.path"])
    assert result["request"]["object"]["spec"] == {"password": digest_of("p"), "user": "u"}
    assert [item["token"] for item in result["items"]] == [digest_of("t1"), digest_of("t2")]


def test_a_whole_subtree_can_be_listed() -> None:
    result = redact({"env": {"A": "1", "B": "2"}}, ["env"])
    assert result["env"] == digest_of({"A": "1", "B": "2"})
