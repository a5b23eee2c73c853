"""SSH signatures on commits and tags against the trusted keys (git's allowed-signers model)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gatekeeper.provenance import sshsig
from gatekeeper.provenance.verdicts import Reason, SignatureFormat, SignatureVerdict


@dataclass(frozen=True, slots=True)
class SshKey:
    """A trusted SSH public key, optionally limited in time as in git's allowed-signers file."""

    signer: str
    blob: bytes
    key: sshsig.PublicKey
    valid_after: datetime | None = None
    valid_before: datetime | None = None

    @property
    def fingerprint(self) -> str:
        return sshsig.fingerprint(self.blob)

    def problem_at(self, when: datetime) -> str | None:
        if self.valid_after is not None and when < self.valid_after:
            return f"key {self.fingerprint} is valid only after {self.valid_after.isoformat()}"
        if self.valid_before is not None and when >= self.valid_before:
            return f"key {self.fingerprint} was valid only before {self.valid_before.isoformat()}"
        return None


class SshVerifier:
    """Verifies SSHSIG signatures in git's namespace against the trusted keys."""

    def __init__(self, keys: Iterable[SshKey]) -> None:
        self._keys: dict[bytes, list[SshKey]] = {}
        for key in keys:
            self._keys.setdefault(key.blob, []).append(key)
        self._fingerprints = {blob: sshsig.fingerprint(blob) for blob in self._keys}

    def verify(self, payload: bytes, signature: bytes, *, at: datetime) -> SignatureVerdict:
        fmt = SignatureFormat.SSH
        try:
            sig = sshsig.parse(signature)
        except sshsig.SshSignatureError as exc:
            return SignatureVerdict(Reason.BAD_SIGNATURE, fmt, None, None, str(exc))
        key_id = self._fingerprints.get(sig.public_key) or sshsig.fingerprint(sig.public_key)
        candidates = self._keys.get(sig.public_key)
        if not candidates:
            return SignatureVerdict(
                Reason.UNKNOWN_KEY, fmt, None, key_id, f"no trusted key {key_id}"
            )
        # The same key may be listed for a signer more than once with different windows.
        usable = [key for key in candidates if key.problem_at(at) is None]
        if not usable:
            problem = candidates[0].problem_at(at) or ""
            return SignatureVerdict(Reason.EXPIRED_KEY, fmt, candidates[0].signer, key_id, problem)
        key = usable[0]
        try:
            sshsig.verify(sig, key.key, payload, namespace=sshsig.GIT_NAMESPACE)
        except sshsig.SshSignatureError as exc:
            return SignatureVerdict(Reason.BAD_SIGNATURE, fmt, key.signer, key_id, str(exc))
        return SignatureVerdict(Reason.TRUSTED, fmt, key.signer, key_id)
