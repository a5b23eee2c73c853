"""Benchmark: strict verification of N X.509-signed commits (CMS, as gpgsm writes them).

Builds a repository of N commits signed in-process by one RSA-2048 certificate issued by a CA
made here (the signature carries the signer's certificate, as gpgsm's do), verifies the range
with `verify_range` against a trust policy naming the CA root, and reports the time per commit.
The certificate chain is built once and cached; each commit still costs a CMS parse, a digest
and an RSA verification.

    python bench/provenance_x509.py --commits 10000 --json
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from provenance import TEAMS, PackWriter, _tree  # the sibling benchmark's pack writer

from gatekeeper.provenance import GitRepository, load_trust_policy, verify_range

NOW = datetime.now(UTC).replace(microsecond=0)


def make_identity() -> tuple[x509.Certificate, x509.Certificate, rsa.RSAPrivateKey]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    root = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(root)
        .issuer_name(root)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(NOW + timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    user = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Carol")]))
        .issuer_name(root)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("carol@example.com")]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca, user, key


def cms_sign(cert: x509.Certificate, key: rsa.RSAPrivateKey, payload: bytes) -> bytes:
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    signed = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(payload)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, options)
    )
    body = base64.b64encode(signed).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(
        ["-----BEGIN SIGNED MESSAGE-----", *lines, "-----END SIGNED MESSAGE-----"]
    ).encode()


def build_repo(path: Path, commits: int, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    writer = PackWriter()
    files: dict[str, dict[str, tuple[bytes, bool]]] = {}
    team_trees: dict[str, tuple[bytes, bool]] = {}
    parent: str | None = None
    start = int((NOW - timedelta(days=30)).timestamp())
    for i in range(commits):
        team = f"team-{i % TEAMS}"
        blob = writer.write("blob", f"replicas: {i}\n".encode())
        files.setdefault(team, {})[f"file-{i % 20}.yaml"] = (blob, False)
        team_trees[team] = (writer.write("tree", _tree(files[team])), True)
        apps = writer.write("tree", _tree(team_trees))
        root = writer.write("tree", _tree({"apps": (apps, True)}))
        stamp = f"{start + i * 60} +0000"
        head = f"tree {root.hex()}\n" + (f"parent {parent}\n" if parent else "")
        who = f"Carol <carol@example.com> {stamp}"
        head += f"author {who}\ncommitter {who}\n"
        payload = f"{head}\nchange {i}\n".encode()
        folded = cms_sign(cert, key, payload).replace(b"\n", b"\n ")
        raw = head.encode() + b"gpgsig " + folded + b"\n\n" + f"change {i}\n".encode()
        parent = writer.write("commit", raw).hex()
    writer.finish(path / ".git")
    subprocess.run(
        ["git", "-C", str(path), "update-ref", "refs/heads/main", parent or ""], check=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", action="store_true", help="print a profile of one pass")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-x509-") as tmp:
        work = Path(tmp)
        ca, cert, key = make_identity()
        started = time.perf_counter()
        build_repo(work / "repo", args.commits, cert, key)
        build_seconds = time.perf_counter() - started
        policy_document = {
            "apiVersion": "gatekeeper.dev/v1alpha1",
            "kind": "TrustPolicy",
            "signers": [
                {
                    "name": "carol",
                    "emails": ["carol@example.com"],
                    "x509": {"roots": ca.public_bytes(serialization.Encoding.PEM).decode()},
                }
            ],
            "rules": [{"paths": ["apps/**"], "signers": ["carol"]}],
        }
        (work / "trust.yaml").write_text(yaml.safe_dump(policy_document))
        started = time.perf_counter()
        policy = load_trust_policy(work / "trust.yaml")
        if args.profile:
            import cProfile

            cProfile.runctx(
                "verify_range(GitRepository(work / 'repo'), policy, since=None, target='main')",
                globals(),
                locals(),
                sort="tottime",
            )
        result = verify_range(GitRepository(work / "repo"), policy, since=None, target="main")
        seconds = time.perf_counter() - started
        if len(result.commits) != args.commits or not result.trusted:
            raise SystemExit(f"verification did not trust the range: {result.untrusted[:1]}")
    figures = {
        "commits": args.commits,
        "format": "x509 (CMS, RSA-2048, SHA-256)",
        "seconds": round(seconds, 3),
        "per_commit_us": round(seconds / args.commits * 1e6, 1),
        "build_seconds": round(build_seconds, 3),
        "mode": "strict",
        "trusted": result.trusted,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>14}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
