"""`gatekeeper verify`: check the provenance of a range of commits against a trust policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gatekeeper.cli.context import console
from gatekeeper.cli.options import TableOrJson, TableOrJsonOption
from gatekeeper.errors import CheckFailed

if TYPE_CHECKING:
    from rich.table import Table

    from gatekeeper.provenance import CommitVerdict, GitRepository, RangeVerdict, TrustPolicy


def _as_json(verdict: CommitVerdict, kind: str) -> dict[str, Any]:
    return {
        "sha": verdict.sha,
        "kind": kind,
        "trusted": verdict.trusted,
        "reason": verdict.reason.value,
        "detail": verdict.detail,
        "format": verdict.format.value if verdict.format else None,
        "signer": verdict.signer,
        "key_id": verdict.key_id,
        "paths": list(verdict.paths),
        "rule": verdict.rule,
        "path": verdict.path,
    }


def _rows(result: RangeVerdict) -> list[tuple[str, CommitVerdict]]:
    rows = [("commit", c) for c in result.commits]
    if result.tag is not None:
        rows.append(("tag", result.tag))
    return rows


def _table(result: RangeVerdict) -> Table:
    """The verdicts as a table. Every cell is `Text`: paths, signers and details are chosen
    by whoever made the commits, and must show exactly as committed."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"provenance of {result.target[:12]} ({result.mode} mode)")
    for column in ("commit", "verdict", "format", "signer", "key", "paths", "why"):
        table.add_column(column, overflow="fold")
    for kind, verdict in _rows(result):
        style = "green" if verdict.trusted else "red"
        paths = ", ".join(verdict.paths[:3]) + (" ..." if len(verdict.paths) > 3 else "")
        table.add_row(
            Text(verdict.sha[:12] + (" (tag)" if kind == "tag" else "")),
            Text(verdict.reason.value, style=style),
            Text(verdict.format.value if verdict.format else "-"),
            Text(verdict.signer or "-"),
            Text((verdict.key_id or "-")[-16:]),
            Text(paths or "-"),
            Text(verdict.detail or ""),
        )
    return table


def _check_trust_from(
    repository: GitRepository,
    policy: TrustPolicy,
    trust: Path,
    *,
    since: str | None,
    target: str,
) -> None:
    """Refuse (exit 2) a `trustFrom` the checked history does not pass through.

    Strict mode on a first check starts at `trustFrom`, which must then be an ancestor of the
    target. When it is not, the policy is wrong for this repository: a configuration error,
    not a commit that failed the check.
    """
    from gatekeeper.provenance import TrustPolicyError
    from gatekeeper.provenance.errors import RepositoryError

    if policy.trust_from is None or policy.mode != "strict" or since is not None:
        return
    head = repository.resolve(target)
    try:
        start = repository.resolve(policy.trust_from, refs=False)
    except RepositoryError as exc:
        raise TrustPolicyError(f"{trust}: trustFrom: {exc}") from exc
    if not repository.is_ancestor(start, head):
        raise TrustPolicyError(
            f"{trust}: trustFrom {policy.trust_from} is not an ancestor of {target} ({head[:12]})"
        )


def verify(
    repo: Annotated[Path, typer.Option("--repo", help="Local Git repository (full history).")],
    trust: Annotated[Path, typer.Option("--trust", help="Trust policy YAML (DESIGN section 7).")],
    rev: Annotated[str, typer.Option("--rev", help="Target branch, tag or SHA.")] = "HEAD",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Last synced commit: only commits after it are checked; REV must descend from it.",
        ),
    ] = None,
    output: TableOrJsonOption = TableOrJson.table,
) -> None:
    """Verify that every commit up to REV is signed by a trusted signer allowed to change it."""
    from gatekeeper.provenance import GitRepository, load_trust_policy, verify_range

    policy = load_trust_policy(trust)
    repository = GitRepository(repo)
    _check_trust_from(repository, policy, trust, since=since, target=rev)
    result = verify_range(repository, policy, since=since, target=rev)
    if output is TableOrJson.json:
        typer.echo(json.dumps([_as_json(v, kind) for kind, v in _rows(result)], indent=2))
    else:
        console().print(_table(result))
    if not result.trusted:
        bad = result.untrusted
        first = bad[0]
        raise CheckFailed(
            f"{len(bad)} of {len(_rows(result))} untrusted; first: {first.sha[:12]}"
            f" {first.reason.value}: {first.detail}"
        )
