"""How far a witness vouches for the log: up to its newest valid checkpoint, and no further."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.audit.signing import Verifier
from gatekeeper.audit.store import Checkpoint
from gatekeeper.audit.witness import WitnessCopy


@dataclass(frozen=True)
class WitnessCoverage:
    """The witness's reach over a log whose last record is `head_seq`."""

    location: str
    checkpoints: int
    last_seq: int | None
    head_seq: int
    # The database's checkpoints the witness does not hold: made before it was configured,
    # or while it could not be written.
    unwitnessed: tuple[int, ...] = ()

    @property
    def not_covered(self) -> tuple[int, int] | None:
        """The records after the witness's newest checkpoint (first, last), or None."""
        covered = self.last_seq or 0
        return (covered + 1, self.head_seq) if self.head_seq > covered else None

    def as_json(self) -> dict[str, Any]:
        gap = self.not_covered
        return {
            "location": self.location,
            "checkpoints": self.checkpoints,
            "last_seq": self.last_seq,
            "not_covered": None
            if gap is None
            else {"first": gap[0], "last": gap[1], "records": gap[1] - gap[0] + 1},
            "unwitnessed_checkpoints": list(self.unwitnessed),
        }

    def lines(self) -> Iterator[str]:
        """Human-readable lines for a verification report."""
        yield f"witness: {self.checkpoints} checkpoints in {self.location}" + (
            f" (last covers {self.last_seq})" if self.last_seq is not None else ""
        )
        gap = self.not_covered
        if gap is not None:
            span = str(gap[0]) if gap[0] == gap[1] else f"{gap[0]}..{gap[1]}"
            yield f"not covered by the witness: record(s) {span}"
        if self.unwitnessed:
            ids = ", ".join(str(i) for i in self.unwitnessed)
            yield f"checkpoints of the database the witness lacks: {ids}"


def coverage_of(
    copy: WitnessCopy, stored: Sequence[Checkpoint], head_seq: int, verifier: Verifier
) -> WitnessCoverage:
    """How far the witness's checkpoints that verify reach, and which stored ones it lacks."""
    valid = [
        kept.seq
        for kept in copy.checkpoints
        if kept.key_id == verifier.key_id and verifier.is_valid(kept.message(), kept.signature)
    ]
    witnessed_ids = {kept.id for kept in copy.checkpoints}
    return WitnessCoverage(
        location=copy.location,
        checkpoints=len(copy.checkpoints),
        last_seq=min(max(valid), head_seq) if valid else None,
        head_seq=head_seq,
        unwitnessed=tuple(c.id for c in stored if c.id not in witnessed_ids),
    )
