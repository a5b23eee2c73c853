"""Range verification: every commit signed by a trusted key whose signer may change its paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from gatekeeper.provenance.errors import HistoryRewritten, ProvenanceError, RepositoryError
from gatekeeper.provenance.objects import SignedObject
from gatekeeper.provenance.policy import Rule, TrustPolicy
from gatekeeper.provenance.repository import CommitRecord, GitRepository
from gatekeeper.provenance.verdicts import CommitVerdict, RangeVerdict, Reason, SignatureVerdict


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


def judge_commit(
    record: CommitRecord, policy: TrustPolicy, signature: SignatureVerdict | None = None
) -> CommitVerdict:
    """One commit on its own: signature, key validity at commit time, signer's rights per path.

    `signature` is the commit's signature verdict when it was already computed.
    """
    sig = signature if signature is not None else policy.keyring.verify(record.obj)
    verdict = _signature_only(record.obj, sig, record.paths)
    if not sig.valid or sig.signer is None:
        return verdict
    deciding = {r.index: r for p in record.paths if (r := policy.rule_for(p)) is not None}
    verdict = replace(verdict, rules=tuple(deciding[i].matched() for i in sorted(deciding)))
    for path in record.paths:
        rule = policy.rule_for(path)
        if rule is None:
            return replace(
                verdict,
                reason=Reason.SIGNER_NOT_ALLOWED,
                detail=f"no rule covers path {path}",
                path=path,
            )
        if not rule.allows(sig.signer):
            return replace(
                verdict,
                reason=Reason.SIGNER_NOT_ALLOWED,
                detail=f"{sig.signer} may not change {path} under {rule.label}",
                path=path,
                rule=rule.label,
            )
    return verdict


def judge_range(
    records: Sequence[CommitRecord],
    policy: TrustPolicy,
    signatures: Sequence[SignatureVerdict] | None = None,
) -> tuple[CommitVerdict, ...]:
    """Every commit judged alone, then each rule's minSigners over the commits it governs."""
    if signatures is None:
        verdicts = [judge_commit(record, policy) for record in records]
    else:
        verdicts = [judge_commit(r, policy, s) for r, s in zip(records, signatures, strict=True)]
    governed: dict[int, list[int]] = {}
    rules: dict[int, Rule] = {}
    for position, record in enumerate(records):
        for rule in {r.index: r for p in record.paths if (r := policy.rule_for(p))}.values():
            if rule.min_signers > 1:
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
    head = repo.resolve(target)
    base = forward_base(repo, since, head) if since else None
    tag_sha = repo.annotated_tag(target)
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
    # git lists the changed paths in its own process while the signatures are checked here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(repo.changed_paths, head, exclude)
        objects = repo.read_commits(repo.rev_list(head, exclude))
        signatures = [policy.keyring.verify(obj) for obj in objects]
        paths = pending.result()
    missing = [obj.sha for obj in objects if obj.sha not in paths]
    if missing or len(paths) != len(objects):
        raise RepositoryError(f"git listed different commits for {head}: {missing[:3]}")
    records = [CommitRecord(obj, paths[obj.sha]) for obj in objects]
    return judge_range(records, policy, signatures)


def _exclusions(repo: GitRepository, policy: TrustPolicy, head: str, base: str | None) -> list[str]:
    if base is not None:
        return [base]
    if policy.trust_from is None:
        return []
    start = repo.resolve(policy.trust_from)
    if not repo.is_ancestor(start, head):
        raise ProvenanceError(f"trustFrom {policy.trust_from} is not an ancestor of {head}")
    # trustFrom itself is checked: exclude only what came before it.
    return list(repo.parents(start))


def _verify_head(
    repo: GitRepository, policy: TrustPolicy, head: str, base: str | None
) -> tuple[CommitVerdict, ...]:
    paths = repo.diff_paths(base, head) if base is not None else repo.tree_paths(head)
    (obj,) = repo.read_commits([head])
    return judge_range([CommitRecord(obj, paths)], policy)
