"""Every report and bundle made is recorded in the audit chain as `report.generated`.

The record says who made it, through what (the CLI or the dashboard), what it covers (its
filters and record count), the integrity it stated, and the SHA-256 of each file, so that the
log itself answers "what evidence left the system, and is this file one of it?". With the
signing key at hand, and the log covered up to it, a checkpoint follows at once, so the next
report does not start out "not verified" because of the record.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from gatekeeper.audit import events
from gatekeeper.audit.errors import WitnessError
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.witness import Witness
from gatekeeper.report.filters import ReportFilters

log = logging.getLogger(__name__)

What = Literal["report", "bundle"]


def new_id(now: datetime) -> str:
    """`20261202T013000Z-1a2b3c4d`: sorts by time, unique without a counter."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def generated(
    *,
    what: What,
    ident: str,
    actor: str,
    via: Literal["cli", "dashboard"],
    filters: ReportFilters,
    records: int,
    integrity: str,
    key_id: str | None,
    files: Mapping[str, Mapping[str, Any]],
    groups: Sequence[str] = (),
) -> NewEvent:
    """The `report.generated` record of one report or bundle."""
    return NewEvent(
        kind=events.REPORT_GENERATED,
        actor=actor,
        subject=f"{what}/{ident}",
        payload={
            "id": ident,
            "type": what,
            "via": via,
            "filters": filters.as_json(),
            "records": records,
            "integrity": integrity,
            "signed": key_id is not None,
            "key_id": key_id,
            "files": {name: dict(described) for name, described in files.items()},
            "groups": list(groups),
        },
    )


def record_made(
    store: AuditStore, event: NewEvent, signer: Signer | None, witness: Witness | None = None
) -> Record:
    """Append the record; with the key at hand, sign a checkpoint over it, but only when a
    checkpoint already covered everything before it. A report that found records nobody has
    vouched for must not be the one to vouch for them: those wait for the scheduler. The
    checkpoint goes to the witness too, as the scheduler's do; a witness that cannot take it
    now is logged, and the scheduler's next tick writes the newest checkpoint."""
    head, _ = store.head()
    last = store.last_checkpoint()
    record = store.append(event)
    if signer is not None and last is not None and last.seq == head:
        checkpoint = store.checkpoint(signer)
        if witness is not None:
            try:
                witness.write(checkpoint)
            except WitnessError as exc:
                log.warning("checkpoint %s not written to the witness: %s", checkpoint.id, exc)
    return record
