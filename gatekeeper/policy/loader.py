"""Everything `policies:` names, loaded into one policy set: folders, Git sources, bundles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs

from gatekeeper.policy.bundle import Bundle, load_bundle
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.jws import VerificationKey
from gatekeeper.policy.policyset import PolicyOrigin, PolicySet, load_policy_set, policy_files
from gatekeeper.policy.sources import CheckoutFactory, GitPolicySources, Rejection
from gatekeeper.settings import PolicyBundleSettings, Settings

Fingerprint = tuple[tuple[str, int, int], ...]


def default_cache_dir(component: str) -> Path:
    return Path(platformdirs.user_cache_dir("gitops-gatekeeper")) / "policy-sources" / component


class PolicyLoader:
    """Loads the configured policy set; `fingerprint` changes when what it would load does."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        sources: GitPolicySources | None = None,
        bundles: Sequence[PolicyBundleSettings] = (),
    ) -> None:
        self.paths = list(paths)
        self.sources = sources
        self.bundles = list(bundles)
        self._started = False
        # The files as they were when `load` began reading them: what the last set loaded is
        # made of, or newer (a file changed while it was read is then seen as changed).
        self.loaded_fingerprint: Fingerprint | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        component: str = "gatekeeper",
        last_verified: Mapping[str, str] | None = None,
        checkout: CheckoutFactory | None = None,
    ) -> PolicyLoader:
        """`checkout` (`gatekeeper.provenance.VerifiedCheckout`) is needed for
        `policies.sources`: without it a configuration that has some is refused."""
        policies = settings.policies
        sources = None
        if policies.sources:
            if checkout is None:
                raise PolicyLoadError(
                    "policies.sources are configured, but this command loads folders and "
                    "bundles only"
                )
            sources = GitPolicySources(
                policies.sources,
                checkout=checkout,
                cache_dir=policies.cache_dir or default_cache_dir(component),
                last_verified=last_verified,
            )
        return cls(policies.paths, sources=sources, bundles=policies.bundles)

    def _folders(self) -> list[Path]:
        verified = self.sources.verified if self.sources else ()
        return [*self.paths, *(commit.folder for commit in verified)]

    def refresh(self) -> list[Rejection]:
        """Move the Git sources to their new verified heads (see `GitPolicySources.refresh`)."""
        if self.sources is None:
            return []
        if not self._started:
            self.start()
            return []
        return self.sources.refresh()

    def start(self) -> None:
        if self.sources is not None and not self._started:
            self.sources.load()
        self._started = True

    def load(self) -> PolicySet:
        """The set of the folders, the sources' verified commits and the bundles."""
        self.start()
        before = self.fingerprint()
        bundles = [self._bundle(entry) for entry in self.bundles]
        origins: list[PolicyOrigin] = []
        if self.sources is not None:
            origins += [commit.origin() for commit in self.sources.verified]
        origins += [
            PolicyOrigin(
                kind="bundle",
                name=Path(b.label).name,
                location=b.label,
                revision=b.revision,
                signers=(b.key_id or "verification key",) if b.signed else (),
                digest=b.digest,
            )
            for b in bundles
        ]
        loaded = load_policy_set(self._folders(), bundles=bundles, origins=origins)
        self.loaded_fingerprint = before
        return loaded

    def fingerprint(self) -> Fingerprint:
        """Path, size and modification time of every file the set is loaded from."""
        seen = []
        files = [*policy_files(self._folders()), *self._bundle_files()]
        for file in files:
            try:
                status = file.stat()
            except OSError:  # removed between listing and looking: the next look sees it gone
                continue
            seen.append((str(file), status.st_size, status.st_mtime_ns))
        return tuple(seen)

    def _bundle_files(self) -> list[Path]:
        found = []
        for entry in self.bundles:
            try:
                found.append(self._bundle_path(entry))
            except PolicyLoadError:
                continue
            if entry.verification_key is not None:
                found.append(entry.verification_key)
        return found

    def _bundle_path(self, entry: PolicyBundleSettings) -> Path:
        if entry.source is None:
            return entry.path
        verified = {c.name: c for c in (self.sources.verified if self.sources else ())}
        if entry.source not in verified:
            raise PolicyLoadError(f"bundle {entry.path}: policy source {entry.source} not loaded")
        folder = verified[entry.source].folder.resolve()
        path = (folder / entry.path).resolve()
        if not path.is_relative_to(folder):
            raise PolicyLoadError(f"bundle {entry.path}: outside policy source {entry.source}")
        return path

    def _bundle(self, entry: PolicyBundleSettings) -> Bundle:
        key = None
        if entry.verification_key is not None:
            try:
                material = entry.verification_key.read_bytes()
            except OSError as exc:
                raise PolicyLoadError(
                    f"{entry.verification_key}: cannot read the verification key: {exc}"
                ) from exc
            key = VerificationKey(
                algorithm=entry.signing_alg,
                material=material.strip() if entry.signing_alg.startswith("HS") else material,
                key_id=entry.key_id,
                scope=entry.scope,
            )
            key.check()
        return load_bundle(self._bundle_path(entry), key=key)
