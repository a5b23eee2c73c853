"""Range verdicts: trusted exactly when every commit (and the tag, if any) is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.provenance import CommitVerdict, RangeVerdict, Reason

reasons = st.sampled_from(list(Reason))


def verdict(index: int, reason: Reason) -> CommitVerdict:
    return CommitVerdict(
        sha=f"{index:040x}",
        reason=reason,
        detail="",
        format=None,
        signer=f"s{index % 3}",
        key_id=None,
        paths=(),
    )


@given(st.lists(reasons, max_size=12), st.none() | reasons)
def test_a_range_is_trusted_only_when_every_commit_and_the_tag_are(
    commit_reasons: list[Reason], tag_reason: Reason | None
) -> None:
    commits = tuple(verdict(i, r) for i, r in enumerate(commit_reasons))
    tag = None if tag_reason is None else verdict(99, tag_reason)
    result = RangeVerdict(target="t", since=None, mode="strict", commits=commits, tag=tag)
    everything = [*commit_reasons, *([tag_reason] if tag_reason else [])]
    assert result.trusted == all(r is Reason.TRUSTED for r in everything)
    assert len(result.untrusted) == sum(r is not Reason.TRUSTED for r in everything)
    assert result.signers == {c.signer for c in commits if c.trusted}
