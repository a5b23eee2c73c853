"""The bodies notifications carry: the record as JSON (optionally HMAC-signed), and a Slack
incoming-webhook message. Pure: a record in, bytes and headers out."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Final

from gatekeeper.audit import chain
from gatekeeper.audit.events import Record
from gatekeeper.notify.describe import describe

SIGNATURE_HEADER: Final = "X-Gatekeeper-Signature-256"
DELIVERY_HEADER: Final = "X-Gatekeeper-Delivery"
KIND_HEADER: Final = "X-Gatekeeper-Event"
# A record's payload is sent whole up to this size; a larger one (a sync of thousands of
# objects) is left out, and the receiver reads it from the report API by seq.
PAYLOAD_LIMIT: Final = 256 * 1024
_SLACK_TEXT_LIMIT: Final = 2900  # a section block's text holds 3000 characters


def record_document(record: Record) -> dict[str, Any]:
    """The record as the audit log holds it, with its hashes, so that a receiver can check
    it against `audit verify` and the dashboard (`GET events/{seq}`)."""
    payload: Any = dict(record.payload)
    size = len(chain.canonical_payload(payload).encode())
    document: dict[str, Any] = {
        "seq": record.seq,
        "time": chain.format_time(record.time),
        "kind": record.kind,
        "actor": record.actor,
        "subject": record.subject,
        "source": record.source,
        "commit": record.commit,
        "payload": payload,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }
    if size > PAYLOAD_LIMIT:
        document["payload"] = None
        document["payload_omitted"] = {"bytes": size, "limit": PAYLOAD_LIMIT}
    return document


def delivery_id(target: str, record: Record) -> str:
    """Names one delivery of one record to one target, the same on every retry: a receiver
    that has seen it already can drop the copy."""
    return f"{target}:{record.seq}:{record.hash[:16]}"


def webhook_body(record: Record) -> bytes:
    return json.dumps(record_document(record), sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over the body, as the signature header carries it."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def webhook_headers(
    target: str, record: Record, body: bytes, secret: bytes | None
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id(target, record),
        KIND_HEADER: record.kind,
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers


def _escape(text: str) -> str:
    """Slack's mrkdwn treats these three as markup; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(record: Record) -> dict[str, Any]:
    """An incoming-webhook message: `text` (notifications, clients without blocks) and
    `blocks` (the text, then the record's facts)."""
    told = describe(record)
    mark = ":warning:" if told.warning else ":information_source:"
    text = f"{mark} *{_escape(told.title)}*\n{_escape(told.text)}"
    fields = [
        ("Kind", record.kind),
        ("Actor", record.actor),
        ("Source", record.source or "-"),
        ("Commit", (record.commit or "-")[:12]),
    ]
    return {
        "text": _escape(f"{told.title}: {told.text}"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SLACK_TEXT_LIMIT]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{_escape(value)[:1900]}"}
                    for name, value in fields
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"audit record #{record.seq} at "
                        f"{chain.format_time(record.time)}, hash {record.hash[:16]}",
                    }
                ],
            },
        ],
    }


def slack_body(record: Record) -> bytes:
    return json.dumps(slack_message(record), ensure_ascii=False).encode()
