"""Real keys (gpg, ssh-keygen) for the session and signed repositories per test."""

from tests.fixtures.gitrepo import gpg_home, keys, signed_repo, write_policy

__all__ = ["gpg_home", "keys", "signed_repo", "write_policy"]
