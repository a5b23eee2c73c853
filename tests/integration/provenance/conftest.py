"""Session-wide real keys (gpg, ssh-keygen) and per-test signed repositories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.gitrepo import (
    GpgHome,
    Keys,
    SignedRepo,
    make_keys,
    standard_signers,
    trust_policy_yaml,
)

from gatekeeper.provenance import TrustPolicy, load_trust_policy


@pytest.fixture(scope="session")
def gpg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgHome]:
    home = GpgHome.create(tmp_path_factory.mktemp("gnupg"))
    yield home
    home.close()


@pytest.fixture(scope="session")
def keys(gpg_home: GpgHome, tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(gpg_home, tmp_path_factory.mktemp("ssh"))


@pytest.fixture
def repo(tmp_path: Path) -> SignedRepo:
    return SignedRepo.init(tmp_path / "repo")


PolicyWriter = Callable[..., TrustPolicy]


@pytest.fixture
def write_policy(tmp_path: Path, keys: Keys) -> PolicyWriter:
    """Writes a trust policy file (standard signers unless given) and loads it."""

    def write(
        rules: list[dict[str, object]] | None = None,
        *,
        signers: dict[str, dict[str, object]] | None = None,
        mode: str = "strict",
        trust_from: str | None = None,
    ) -> TrustPolicy:
        path = tmp_path / "trust.yaml"
        path.write_text(
            trust_policy_yaml(
                signers=signers if signers is not None else standard_signers(keys),
                rules=rules or [{"paths": ["**"], "signers": ["*"]}],
                mode=mode,
                trust_from=trust_from,
            )
        )
        return load_trust_policy(path)

    return write
