"""The CI half of the loop: examples/ci/bump-image.sh makes a signed bump of the example
repository's staging overlay that `gatekeeper verify` and the shipped policies accept, and
refuses the same bump of production (two-person rule) and a tag instead of a digest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).parents[3]
SCRIPT = ROOT / "examples" / "ci" / "bump-image.sh"
DIGEST = "sha256:" + "ab" * 32


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def gitops(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The example repository in Git, its first commit signed by alice, `origin/main` at it;
    and the environment the script runs with (ci-bot's key)."""
    repo = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops-repo", repo)
    trust = yaml.safe_load((repo / "trust-policy.yaml").read_text())
    # A key of each signer's own: a key listed under two signers is refused.
    keys: dict[str, Path] = {}
    for name in ("ci", *(s["name"] for s in trust["signers"] if s["name"] != "ci-bot")):
        keys[name] = tmp_path / name
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys[name])], tmp_path)
    public = {n: (keys[n].with_suffix(".pub")).read_text().strip() for n in keys}
    for signer in trust["signers"]:
        signer["ssh"] = [public["ci" if signer["name"] == "ci-bot" else signer["name"]]]
    (tmp_path / "trust.yaml").write_text(yaml.safe_dump(trust, sort_keys=False))
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['alice']}"]
    who = ["-c", "user.name=Alice", "-c", "user.email=alice@example.com"]
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", *sign, *who, "commit", "-q", "-S", "-m", "The example repository"],
        ["git", "update-ref", "refs/remotes/origin/main", "HEAD"],
    ):
        assert _run(args, repo).returncode == 0
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "SIGNING_KEY_FILE": str(keys["ci"]),
        "TRUST_POLICY": str(tmp_path / "trust.yaml"),
        "POLICIES": str(ROOT / "policies"),
        "GIT_USER_EMAIL": "ci-bot@example.com",
    }
    return repo, env


def test_a_staging_bump_is_a_signed_commit_that_verify_and_the_policies_accept(
    gitops: tuple[Path, dict[str, str]],
) -> None:
    repo, env = gitops
    overlay = "apps/web/overlays/staging"

    done = _run(["bash", str(SCRIPT), overlay, "ghcr.io/example/web", DIGEST], repo, env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "trusted" in done.stdout
    assert "Deployment/web-staging/web: ALLOWED" in done.stdout
    assert f"digest: {DIGEST}" in (repo / overlay / "kustomization.yaml").read_text()
    signature = _run(["git", "cat-file", "commit", "HEAD"], repo).stdout
    assert "-----BEGIN SSH SIGNATURE-----" in signature


def test_ci_cannot_bump_production_alone(gitops: tuple[Path, dict[str, str]]) -> None:
    repo, env = gitops

    done = _run(
        ["bash", str(SCRIPT), "apps/web/overlays/production", "ghcr.io/example/web", DIGEST],
        repo,
        env,
    )

    assert done.returncode != 0
    assert "signer_not_allowed: ci-bot may not change apps/web/overlays/production" in (
        done.stdout + done.stderr
    )


def test_a_tag_instead_of_a_digest_is_refused_before_anything_is_committed(
    gitops: tuple[Path, dict[str, str]],
) -> None:
    repo, env = gitops
    before = _run(["git", "rev-parse", "HEAD"], repo).stdout

    done = _run(
        ["bash", str(SCRIPT), "apps/web/overlays/staging", "ghcr.io/example/web", "latest"],
        repo,
        env,
    )

    assert done.returncode == 2
    assert "images are pinned by digest" in done.stderr
    assert _run(["git", "rev-parse", "HEAD"], repo).stdout == before
