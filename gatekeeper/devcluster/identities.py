"""The static-token users of the local control plane and the token file that defines them."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

DEVELOPERS_GROUP = "gatekeeper:developers"
BREAK_GLASS_GROUP = "gatekeeper:break-glass"


@dataclass(frozen=True)
class Identity:
    """One user of the local control plane: the name used on the CLI, the username, groups."""

    name: str
    username: str
    groups: tuple[str, ...]
    description: str


ADMIN = Identity("admin", "admin", ("system:masters",), "cluster administrator")
RECONCILER = Identity(
    "reconciler",
    "reconciler",
    (),
    "GitOps reconciler: server-side apply, list, delete any object; coordination Leases",
)
ALICE = Identity(
    "alice", "alice", (DEVELOPERS_GROUP,), "a human with edit rights in granted namespaces"
)
BREAKGLASS = Identity(
    "breakglass",
    "breakglass",
    (BREAK_GLASS_GROUP,),
    "a human in the break-glass group, with alice's rights",
)
# One group each at most, so that a cluster reached through impersonation can stand in for them.
IDENTITIES: Mapping[str, Identity] = {i.name: i for i in (ADMIN, RECONCILER, ALICE, BREAKGLASS)}


def identity(name: str) -> Identity:
    """The identity called `name`; the error lists the known ones."""
    try:
        return IDENTITIES[name]
    except KeyError:
        known = ", ".join(IDENTITIES)
        raise KeyError(f"unknown user {name!r}; known users: {known}") from None


def new_tokens() -> dict[str, str]:
    """A fresh random bearer token for every identity."""
    return {name: secrets.token_urlsafe(32) for name in IDENTITIES}


def token_file(tokens: Mapping[str, str]) -> str:
    """The `--token-auth-file` CSV: `token,user,uid,"group1,group2"`, one line per identity."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    for name, token in tokens.items():
        who = identity(name)
        if not token or any(c in token for c in ',"\n'):
            raise ValueError(f"token for {name!r} is empty or contains CSV syntax")
        row = [token, who.username, f"gatekeeper-dev-{who.name}"]
        if who.groups:
            row.append(",".join(who.groups))
        writer.writerow(row)
    return buffer.getvalue()
