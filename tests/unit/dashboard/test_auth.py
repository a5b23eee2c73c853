"""Who may read: a tokens file keeps digests only; the cluster's reviews decide in a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper.dashboard.auth import KubernetesReviews, TokensFile, token_digest
from gatekeeper.dashboard.errors import AuthUnavailable, Forbidden, Unauthenticated
from gatekeeper.errors import ConfigError
from gatekeeper.kube.errors import KubeError


def _tokens(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    return path


def test_a_listed_token_reads_and_only_create_verbs_make_reports(tmp_path: Path) -> None:
    path = _tokens(
        tmp_path,
        f"- {{user: ann, groups: [auditors], tokenSha256: {token_digest('a-token')}}}\n"
        f"- {{user: max, verbs: [get, create], tokenSha256: {token_digest('m-token')}}}\n",
    )
    tokens = TokensFile.load(path)
    ann = tokens.authenticate("a-token")
    assert (ann.user, ann.groups) == ("ann", ("auditors",))
    assert ann.uid.startswith("token:")
    tokens.authorize(ann, "get")
    with pytest.raises(Forbidden, match=r"ann may not create reports\.gatekeeper\.dev"):
        tokens.authorize(ann, "create")
    tokens.authorize(tokens.authenticate("m-token"), "create")
    with pytest.raises(Unauthenticated):
        tokens.authenticate("m-token ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected a non-empty list"),
        ("- {user: a}", "tokenSha256 must be 64 hex digits"),
        ("- {user: a, tokenSha256: xyz}", "tokenSha256 must be 64 hex digits"),
        (f"- {{user: a, token: t, tokenSha256: {'a' * 64}}}", "unknown key 'token'"),
        (f"- {{user: a, verbs: [delete], tokenSha256: {'a' * 64}}}", "unknown verb 'delete'"),
        (
            f"- {{user: a, tokenSha256: {'a' * 64}}}\n- {{user: b, tokenSha256: {'a' * 64}}}",
            "the same token is listed twice",
        ),
        ("user: [", "cannot read it"),
    ],
)
def test_a_bad_tokens_file_is_refused_naming_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        TokensFile.load(_tokens(tmp_path, text))


class _ApiServer:
    """Answers TokenReview and SubjectAccessReview as a kube-apiserver would, counting calls."""

    def __init__(self, *, allowed: bool = True, down: bool = False) -> None:
        self.allowed, self.down, self.calls = allowed, down, 0

    def request(self, method: str, path: str, *, body: Any = None) -> Any:
        self.calls += 1
        if self.down:
            raise KubeError("POST: the API server is unreachable")
        if path.endswith("tokenreviews"):
            known = body["spec"]["token"] == "good"
            user = {"username": "system:serviceaccount:audit:ann", "groups": ["auditors"]}
            return {"status": {"authenticated": known, "user": user if known else {}}}
        return {"status": {"allowed": self.allowed}}


def test_cluster_reviews_name_the_user_and_are_asked_once_in_a_while() -> None:
    server = _ApiServer()
    reviews = KubernetesReviews(server)
    principal = reviews.authenticate("good")
    assert principal.user == "system:serviceaccount:audit:ann"
    reviews.authorize(principal, "get")
    reviews.authenticate("good")
    reviews.authorize(principal, "get")
    assert server.calls == 2
    with pytest.raises(Unauthenticated):
        reviews.authenticate("bad")


def test_a_denied_access_review_is_forbidden_and_an_unreachable_server_unavailable() -> None:
    reviews = KubernetesReviews(_ApiServer(allowed=False))
    with pytest.raises(Forbidden):
        reviews.authorize(reviews.authenticate("good"), "create")
    with pytest.raises(AuthUnavailable, match="cannot ask the API server"):
        KubernetesReviews(_ApiServer(down=True)).authenticate("good")
