"""Redaction: Secret data and sensitive fields never reach the store in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from gatekeeper.audit import redact as redaction
from gatekeeper.audit.redact import LAST_APPLIED
from gatekeeper.audit.secret_digest import SecretDigester

KEY = b"an installation's key, 32+ bytes"
DIGESTER = SecretDigester(KEY)
digest_of = DIGESTER.digest


def redact(value: Any, paths: list[str] | None = None) -> Any:
    return redaction.redact(value, paths or (), digester=DIGESTER)


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
    expected = hmac.new(KEY, b"aHVudGVyMg==", hashlib.sha256).hexdigest()
    assert result["data"]["password"] == "hmac-sha256:" + expected
    assert result["stringData"]["token"] == digest_of("s3cr3t")
    assert result["metadata"]["name"] == "db"
    assert result["type"] == "Opaque"


def test_the_last_applied_annotation_of_a_secret_is_digested_too() -> None:
    result = redact(secret())
    annotations = result["metadata"]["annotations"]
    assert annotations[LAST_APPLIED].startswith("hmac-sha256:")
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


def test_a_stored_digest_cannot_be_reproduced_without_the_key() -> None:
    """A guessed password confirmed offline needs the key: neither the plain SHA-256 of the
    value nor an HMAC under any other key gives the digest the store keeps."""
    stored = redact(secret())["data"]["password"]
    guess = b"aHVudGVyMg=="  # base64 of the password an attacker guesses right
    assert stored != "sha256:" + hashlib.sha256(guess).hexdigest()
    assert stored != "hmac-sha256:" + hashlib.sha256(guess).hexdigest()
    other = SecretDigester(b"another installation's key......")
    assert redaction.redact(secret(), digester=other)["data"]["password"] != stored
    assert redact(secret())["data"]["password"] == stored  # the same key gives the same


def test_keyed_digests_never_equal_the_unkeyed_ones_of_older_records() -> None:
    assert not digest_of("s3cr3t").startswith("sha256:")
