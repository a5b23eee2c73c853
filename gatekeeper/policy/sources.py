"""Git policy sources: policy sets loaded only from commits a trust policy accepts.

Security teams keep policies in Git, and the same rules hold for them as for manifests
(DESIGN section 7 and 13): every commit brought since the last verified one must be signed by
a signer the trust policy allows for its paths (or, in `head` mode, the new head alone), and
history only moves forward. A new head that fails either is refused: it is recorded as
`policy.rejected`, once per head, and the policies of the last verified commit stay active.

Each source is fetched into a bare mirror and each verified commit exported to a folder of
its own (`<cache>/checkouts/<source>/<commit>`), which the policy set is loaded from. The
commit that decides is named in the policy set's version and in its `policy.reloaded`
record (see `gatekeeper.policy.policyset.PolicyOrigin`).

Git itself is the provenance package's (`gatekeeper.provenance.VerifiedCheckout`); the
services hand its constructor in as `checkout`, since the two packages are one layer.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.errors import GatekeeperError
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.policyset import PolicyOrigin
from gatekeeper.settings import PolicySourceSettings

log = logging.getLogger(__name__)

POLICY_REJECTED = events.POLICY_REJECTED
POLICY_LOADED = events.POLICY_LOADED


@dataclass(frozen=True)
class VerifiedCommit:
    """A policy source's commit whose range the trust policy accepted, and its files."""

    name: str
    repo: str
    commit: str
    folder: Path
    signers: tuple[str, ...] = ()

    def origin(self) -> PolicyOrigin:
        return PolicyOrigin(
            kind="git",
            name=self.name,
            location=self.repo,
            revision=self.commit,
            signers=self.signers,
        )


@dataclass(frozen=True)
class Rejection:
    """A head that was not loaded, and why: `history_rewritten`, `untrusted` (a commit's
    signature or signer), or `invalid` (a commit whose files cannot be exported)."""

    name: str
    repo: str
    commit: str
    since: str | None
    reason: str
    detail: str
    commits: tuple[Mapping[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "repo": self.repo,
            "commit": self.commit,
            "since": self.since,
            "reason": self.reason,
            "detail": self.detail,
            "commits": [dict(c) for c in self.commits],
        }


class RangeCheckResult(Protocol):
    """The verdict on a range (`gatekeeper.provenance.RangeCheck`)."""

    @property
    def trusted(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def signers(self) -> tuple[str, ...]: ...
    @property
    def commits(self) -> tuple[Mapping[str, Any], ...]: ...


class Checkout(Protocol):
    """A mirrored Git source (`gatekeeper.provenance.VerifiedCheckout`); errors are
    `GatekeeperError`s."""

    def fetch(self) -> str: ...
    def check(self, trust_file: Path, *, since: str | None, target: str) -> RangeCheckResult: ...
    def export(self, commit: str, path: str, dest: Path) -> Path: ...


CheckoutFactory = Callable[..., Checkout]  # (url=, ref=, cache_dir=)


class RecordQuery(Protocol):
    """The part of the audit store that finds the last commit each policy source loaded."""

    def query(self, *, kinds: Sequence[str], order: Any, limit: int) -> Any: ...


def last_verified_commits(store: RecordQuery, *, limit: int = 500) -> dict[str, str]:
    """Per policy source, the newest commit a `policy.loaded` or `policy.reloaded` record
    names: a restarted process verifies from there, so history moves forward across restarts."""
    page = store.query(kinds=[POLICY_LOADED, "policy.reloaded"], order="desc", limit=limit)
    found: dict[str, str] = {}
    records: list[Record] = list(page.records)
    for record in records:
        for origin in record.payload.get("origins") or []:
            if isinstance(origin, Mapping) and origin.get("kind") == "git":
                name, commit = origin.get("name"), origin.get("commit")
                if isinstance(name, str) and isinstance(commit, str):
                    found.setdefault(name, commit)
    return found


@dataclass
class _State:
    settings: PolicySourceSettings
    checkout: Checkout
    since: str | None = None  # the last verified commit (or the one recorded before a restart)
    verified: VerifiedCommit | None = None
    due: float = 0.0
    rejected_head: str | None = None
    history: list[str] = field(default_factory=list)


class GitPolicySources:
    """Every `policies.sources` entry: its last verified commit and the folder holding it."""

    def __init__(
        self,
        sources: Sequence[PolicySourceSettings],
        *,
        checkout: CheckoutFactory,
        cache_dir: Path,
        last_verified: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache_dir
        self._clock = clock
        known = last_verified or {}
        self._states = [
            _State(
                settings=source,
                checkout=checkout(url=source.repo, ref=source.ref, cache_dir=cache_dir / "mirrors"),
                since=known.get(source.name),
            )
            for source in sources
        ]

    def __bool__(self) -> bool:
        return bool(self._states)

    @property
    def verified(self) -> tuple[VerifiedCommit, ...]:
        return tuple(s.verified for s in self._states if s.verified is not None)

    def load(self) -> tuple[VerifiedCommit, ...]:
        """Verify and export every source's head, at start: `PolicyLoadError` when one cannot
        be loaded (the service refuses to start rather than run without its policies)."""
        for state in self._states:
            rejection = self._advance(state)
            if rejection is not None:
                raise PolicyLoadError(
                    f"policy source {rejection.name} ({rejection.repo}): {rejection.commit[:12]}"
                    f" refused: {rejection.detail}"
                )
        return self.verified

    def refresh(self, *, force: bool = False) -> list[Rejection]:
        """Fetch the sources whose `interval` has passed (all with `force`) and move each to
        its new head when the trust policy accepts it. The rejections not reported before."""
        rejections: list[Rejection] = []
        now = self._clock()
        for state in self._states:
            if not force and now < state.due:
                continue
            state.due = now + state.settings.interval
            rejection = self._advance(state)
            if rejection is not None and rejection.commit != state.rejected_head:
                state.rejected_head = rejection.commit
                rejections.append(rejection)
        return rejections

    def _advance(self, state: _State) -> Rejection | None:
        source = state.settings
        try:
            head = state.checkout.fetch()
        except GatekeeperError as exc:
            if state.verified is None:
                raise PolicyLoadError(f"policy source {source.name}: {exc}") from exc
            log.warning("policy source %s: cannot fetch, keeping %s: %s", source.name,
                        state.verified.commit[:12], exc)  # fmt: skip
            return None
        if state.verified is not None and head == state.verified.commit:
            return None
        try:
            verdict = state.checkout.check(source.trust, since=state.since, target=head)
        except GatekeeperError as exc:
            if state.verified is None:
                raise PolicyLoadError(f"policy source {source.name}: {exc}") from exc
            return self._rejected(state, head, "unverifiable", str(exc))
        if not verdict.trusted:
            return self._rejected(state, head, verdict.reason, verdict.detail, verdict.commits)
        try:
            folder = self._export(state, head)
        except GatekeeperError as exc:
            return self._rejected(state, head, "invalid", str(exc))
        signers = tuple(verdict.signers)
        state.verified = VerifiedCommit(source.name, source.repo, head, folder, signers)
        state.since = head
        state.rejected_head = None
        self._prune(state, keep={head, *state.history[-1:]})
        state.history.append(head)
        log.info("policy source %s: verified %s, signed by %s", source.name, head[:12],
                 ", ".join(signers) or "nobody")  # fmt: skip
        return None

    def _rejected(
        self,
        state: _State,
        head: str,
        reason: str,
        detail: str,
        commits: tuple[Mapping[str, Any], ...] = (),
    ) -> Rejection:
        source = state.settings
        if state.rejected_head != head:
            log.error("policy source %s: %s refused (%s): %s", source.name, head[:12], reason,
                      detail)  # fmt: skip
        return Rejection(source.name, source.repo, head, state.since, reason, detail, commits)

    def _export(self, state: _State, commit: str) -> Path:
        base = self._cache / "checkouts" / state.settings.name
        final = base / commit
        if not final.is_dir():
            base.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=base))
            try:
                state.checkout.export(commit, state.settings.path, scratch)
                scratch.rename(final)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        clean = state.settings.path.strip("/") or "."
        return final if clean == "." else final / clean

    def _prune(self, state: _State, *, keep: set[str]) -> None:
        base = self._cache / "checkouts" / state.settings.name
        for folder in base.iterdir() if base.is_dir() else ():
            if folder.name not in keep and not folder.name.startswith("."):
                shutil.rmtree(folder, ignore_errors=True)
