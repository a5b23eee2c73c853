"""Range verification: every commit signed by a trusted key whose signer may change its paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gatekeeper.provenance.errors import HistoryRewritten, RepositoryError, TrustPolicyError
from gatekeeper.provenance.objects import SignedObject
from gatekeeper.provenance.policy import Rule, TrustPolicy
from gatekeeper.provenance.repository import CommitRecord, GitRepository
from gatekeeper.provenance.sigpool import SignaturePool
from gatekeeper.provenance.verdicts import (
    CommitVerdict,
    MatchedRule,
    RangeVerdict,
    Reason,
    SignatureVerdict,
)


def _signature_only(
    obj: SignedObject, sig: SignatureVerdict, paths: tuple[str, ...]
) -> CommitVerdict:
    return CommitVerdict(
        sha=obj.sha,
        reason=sig.reason,
        detail=sig.detail,
        format=sig.format,
        signer=sig.signer,
        key_id=sig.key_id,
        paths=paths,
        author=obj.author,
        time=obj.time,
    )


@dataclass(frozen=True, slots=True)
class _PathRules:
    """What the trust policy says about one set of changed paths."""

    deciding: tuple[MatchedRule, ...]  # the most specific rule of each path, by index
    governing: tuple[Rule, ...]  # those of them with minSigners above 1
    # (path, its rule or None) for each path, in the commit's order.
    rules: tuple[tuple[str, Rule | None], ...]


# Why a signer may not change a set of paths: (detail, path, rule label), or None if it may.
_Refusal = tuple[str, str, str | None] | None


class _Judge:
    """Judges commits against one trust policy, remembering what each set of paths needs.

    Commits of a range mostly touch the same few sets of paths, so the rule lookups and
    the signer checks are made once per (set of paths, signer).
    """

    def __init__(self, policy: TrustPolicy) -> None:
        self._policy = policy
        self._rules: dict[tuple[str, ...], _PathRules] = {}
        self._refusals: dict[tuple[tuple[str, ...], str], _Refusal] = {}

    def rules(self, paths: tuple[str, ...]) -> _PathRules:
        found = self._rules.get(paths)
        if found is None:
            pairs = tuple((path, self._policy.rule_for(path)) for path in paths)
            by_index = {rule.index: rule for _, rule in pairs if rule is not None}
            ordered = [by_index[i] for i in sorted(by_index)]
            found = _PathRules(
                deciding=tuple(rule.matched() for rule in ordered),
                governing=tuple(rule for rule in ordered if rule.min_signers > 1),
                rules=pairs,
            )
            self._rules[paths] = found
        return found

    def refusal(self, paths: tuple[str, ...], signer: str) -> _Refusal:
        key = (paths, signer)
        if key in self._refusals:
            return self._refusals[key]
        found: _Refusal = None
        for path, rule in self.rules(paths).rules:
            if rule is None:
                found = (f"no rule covers path {path}", path, None)
                break
            if not rule.allows(signer):
                found = (f"{signer} may not change {path} under {rule.label}", path, rule.label)
                break
        self._refusals[key] = found
        return found

    def commit(self, record: CommitRecord, sig: SignatureVerdict) -> CommitVerdict:
        obj, paths = record.obj, record.paths
        if not sig.valid or sig.signer is None:
            return _signature_only(obj, sig, paths)
        deciding = self.rules(paths).deciding
        refusal = self.refusal(paths, sig.signer)
        if refusal is None:
            reason, detail, path, rule = sig.reason, sig.detail, None, None
        else:
            reason = Reason.SIGNER_NOT_ALLOWED
            detail, path, rule = refusal
        return CommitVerdict(
            sha=obj.sha,
            reason=reason,
            detail=detail,
            format=sig.format,
            signer=sig.signer,
            key_id=sig.key_id,
            paths=paths,
            rule=rule,
            path=path,
            author=obj.author,
            time=obj.time,
            rules=deciding,
        )


def judge_commit(
    record: CommitRecord, policy: TrustPolicy, signature: SignatureVerdict | None = None
) -> CommitVerdict:
    """One commit on its own: signature, key validity at commit time, signer's rights per path.

    `signature` is the commit's signature verdict when it was already computed.
    """
    sig = signature if signature is not None else policy.keyring.verify(record.obj)
    return _Judge(policy).commit(record, sig)


def judge_range(
    records: Sequence[CommitRecord],
    policy: TrustPolicy,
    signatures: Sequence[SignatureVerdict] | None = None,
) -> tuple[CommitVerdict, ...]:
    """Every commit judged alone, then each rule's minSigners over the commits it governs."""
    judge = _Judge(policy)
    if signatures is None:
        signatures = [policy.keyring.verify(record.obj) for record in records]
    verdicts = [judge.commit(r, s) for r, s in zip(records, signatures, strict=True)]
    governed: dict[int, list[int]] = {}
    rules: dict[int, Rule] = {}
    for position, record in enumerate(records):
        for rule in judge.rules(record.paths).governing:
            governed.setdefault(rule.index, []).append(position)
            rules[rule.index] = rule
    for index, positions in sorted(governed.items()):
        rule = rules[index]
        signers = {
            verdicts[p].signer for p in positions if verdicts[p].trusted and verdicts[p].signer
        }
        if len(signers) >= rule.min_signers:
            continue
        named = ", ".join(sorted(s for s in signers if s)) or "none"
        detail = (
            f"{rule.label} needs {rule.min_signers} distinct trusted signers over the range,"
            f" has {len(signers)} ({named})"
        )
        for p in positions:
            if verdicts[p].trusted:
                verdicts[p] = replace(
                    verdicts[p], reason=Reason.INSUFFICIENT_SIGNERS, detail=detail, rule=rule.label
                )
    return tuple(verdicts)


def verify_tag(repo: GitRepository, policy: TrustPolicy, tag_sha: str) -> CommitVerdict:
    """An annotated tag's own signature (tags change no paths)."""
    tag: SignedObject = repo.read_tag(tag_sha)
    return _signature_only(tag, policy.keyring.verify(tag), ())


def verify_range(
    repo: GitRepository,
    policy: TrustPolicy,
    *,
    since: str | None,
    target: str,
) -> RangeVerdict:
    """Verify what a sync from `since` (the last synced commit, or None) to `target` brings.

    Strict mode checks every commit reachable from `target` and not from `since`; on a first
    sync (`since` None) the range starts at the policy's `trustFrom` commit when it has one.
    Head mode checks only the target commit, whose signer must then be allowed on every path
    changed since `since` (every path of its tree on a first sync). When `target` names an
    annotated tag, the tag's own signature must be trusted as well.

    History only moves forward: when `target` is not `since` and does not descend from it
    (a force-push, a branch moved back, an unrelated history), or `since` is a full commit
    name the repository no longer has, there is no range to verify and `HistoryRewritten`
    is raised.
    """
    repo.require_full_history()
    name = repo.object_name(target)
    head = repo.resolve(name)
    base = forward_base(repo, since, head) if since else None
    tag_sha = repo.annotated_tag(name)
    tag = verify_tag(repo, policy, tag_sha) if tag_sha else None
    if policy.mode == "head":
        commits = _verify_head(repo, policy, head, base)
    else:
        commits = _verify_strict(repo, policy, head, _exclusions(repo, policy, head, base))
    return RangeVerdict(target=head, since=base, mode=policy.mode, commits=commits, tag=tag)


# A full SHA-1 or SHA-256 object name: naming one the repository lacks is not a typo.
_FULL_NAME = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def forward_base(repo: GitRepository, since: str, head: str) -> str:
    """The commit `since` names, provided `head` is it or descends from it.

    A full object name the repository does not hold is a commit that history lost (rewritten,
    then collected); a shorter name that resolves to nothing stays a `RepositoryError`.
    """
    if _FULL_NAME.fullmatch(since) and not repo.has_object(since):
        raise HistoryRewritten(since=since.lower(), target=head, missing=True)
    base = repo.resolve(since)
    if not repo.is_ancestor(base, head):
        raise HistoryRewritten(since=base, target=head)
    return base


def _verify_strict(
    repo: GitRepository, policy: TrustPolicy, head: str, exclude: list[str]
) -> tuple[CommitVerdict, ...]:
    # git lists the changed paths (oldest first) in its own process, while the commits
    # stream out of two others (rev-list into cat-file, in walk order) and their signatures
    # are checked as they arrive; the verdicts then follow the changed paths' order.
    # Long ranges share the signature checks with a second process (sigpool.py).
    with repo.start_changed_paths(head, exclude) as pending, SignaturePool(policy.keyring) as pool:
        objects: list[SignedObject] = []
        for obj in repo.range_commits(head, exclude, ordered=False):
            objects.append(obj)
            pool.submit(obj)
        checked = {obj.sha: (obj, sig) for obj, sig in zip(objects, pool.results(), strict=True)}
        paths = pending.result()
    missing = [sha for sha in checked if sha not in paths]
    if missing or len(paths) != len(checked):
        raise RepositoryError(f"git listed different commits for {head}: {missing[:3]}")
    records: list[CommitRecord] = []
    signatures: list[SignatureVerdict] = []
    for sha, changed in paths.items():
        obj, signature = checked[sha]
        records.append(CommitRecord(obj, changed))
        signatures.append(signature)
    return judge_range(records, policy, signatures)


def _exclusions(repo: GitRepository, policy: TrustPolicy, head: str, base: str | None) -> list[str]:
    if base is not None:
        return [base]
    if policy.trust_from is None:
        return []
    try:
        start = repo.resolve(policy.trust_from, refs=False)
    except RepositoryError as exc:
        raise TrustPolicyError(f"trustFrom: {exc}") from exc
    if not repo.is_ancestor(start, head):
        raise TrustPolicyError(f"trustFrom {policy.trust_from} is not an ancestor of {head}")
    # trustFrom itself is checked: exclude only what came before it.
    return list(repo.parents(start))


def _verify_head(
    repo: GitRepository, policy: TrustPolicy, head: str, base: str | None
) -> tuple[CommitVerdict, ...]:
    paths = repo.diff_paths(base, head) if base is not None else repo.tree_paths(head)
    (obj,) = repo.read_commits([head])
    return judge_range([CommitRecord(obj, paths)], policy)
