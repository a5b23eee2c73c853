"""Benchmark: strict verification of N signed commits against a loop of `git verify-commit`.

Builds a repository of N commits (alternately OpenPGP- and SSH-signed, signed in-process and
written as one pack), verifies the whole range in strict mode with `verify_range` (each pass
in a new process), then times `git verify-commit` (gpg / ssh-keygen) over a sample of the same
commits and extrapolates its per-commit time to N.

    python bench/provenance.py --commits 10000 --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pysequoia
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from machine import machine

from gatekeeper.provenance import GitRepository, load_trust_policy, sshsig, verify_range

TEAMS = 10
FILES_PER_TEAM = 20
START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())


_PACK_TYPES = {"commit": 1, "tree": 2, "blob": 3}


class PackWriter:
    """Collects git objects and writes them as one undeltified pack, indexed by git itself."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.seen: set[bytes] = set()

    def write(self, kind: str, body: bytes) -> bytes:
        digest = hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).digest()
        if digest not in self.seen:
            self.seen.add(digest)
            size = len(body)
            header = bytearray([(_PACK_TYPES[kind] << 4) | (size & 0x0F)])
            size >>= 4
            while size:
                header[-1] |= 0x80
                header.append(size & 0x7F)
                size >>= 7
            self.entries.append(bytes(header) + zlib.compress(body, 1))
        return digest

    def finish(self, git_dir: Path) -> None:
        pack = b"PACK" + struct.pack(">II", 2, len(self.entries)) + b"".join(self.entries)
        pack += hashlib.sha1(pack).digest()
        subprocess.run(
            ["git", "--git-dir", str(git_dir), "index-pack", "--stdin"],
            input=pack,
            check=True,
            capture_output=True,
        )


def _tree(entries: dict[str, tuple[bytes, bool]]) -> bytes:
    def order(name: str) -> str:
        return name + "/" if entries[name][1] else name

    out = bytearray()
    for name in sorted(entries, key=order):
        digest, is_dir = entries[name]
        out += (b"40000 " if is_dir else b"100644 ") + name.encode() + b"\0" + digest
    return bytes(out)


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, "GNUPGHOME": str(home)}
    done = subprocess.run(
        ["gpg", "--batch", "--quiet", *args], input=stdin, env=env, capture_output=True, check=True
    )
    return done.stdout


def make_keys(work: Path) -> tuple[pysequoia.Tsk, str, ed25519.Ed25519PrivateKey, str]:
    """An OpenPGP key made by gpg (so gpg can verify) and an SSH ed25519 key."""
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    uid = "Bench Alice <alice@example.com>"
    _gpg(
        home, "--faked-system-time", "20230101T000000!", "--passphrase", "", "--quick-gen-key",
        uid, "ed25519", "sign,cert", "never",
    )  # fmt: skip
    secret = _gpg(
        home, "--pinentry-mode", "loopback", "--passphrase", "", "--export-secret-keys", "--armor"
    )
    public = _gpg(home, "--armor", "--export").decode()
    ssh_key = ed25519.Ed25519PrivateKey.generate()
    ssh_public = (
        ssh_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return pysequoia.Tsk.from_bytes(secret), public, ssh_key, ssh_public + " bob@example.com"


def build_repo(
    path: Path, commits: int, tsk: pysequoia.Tsk, ssh_key: ed25519.Ed25519PrivateKey
) -> list[str]:
    """N commits, each changing one file under apps/team-K/, alternately signed by each key.

    git 2.39's fast-import cannot carry commit signatures, so the objects are packed here.
    """
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    writer = PackWriter()
    signer = tsk.signer()
    teams: dict[str, dict[str, tuple[bytes, bool]]] = {}
    team_trees: dict[str, tuple[bytes, bool]] = {}
    parent: str | None = None
    shas: list[str] = []
    for i in range(commits):
        team = f"team-{(i // 2) % TEAMS}"
        blob = writer.write("blob", f"replicas: {i}\n".encode())
        files = teams.setdefault(team, {})
        files[f"file-{(i // TEAMS) % FILES_PER_TEAM}.yaml"] = (blob, False)
        team_trees[team] = (writer.write("tree", _tree(files)), True)
        apps = writer.write("tree", _tree(team_trees))
        root = writer.write("tree", _tree({"apps": (apps, True)}))
        who = "Alice <alice@example.com>" if i % 2 == 0 else "Bob <bob@example.com>"
        stamp = f"{START + i * 60} +0000"
        head = f"tree {root.hex()}\n" + (f"parent {parent}\n" if parent else "")
        head += f"author {who} {stamp}\ncommitter {who} {stamp}\n"
        payload = f"{head}\nchange {i}\n".encode()
        if i % 2 == 0:
            mode = pysequoia.SignatureMode.DETACHED
            signature = pysequoia.sign(signer, payload, mode=mode)
        else:
            signature = sshsig.sign(ssh_key, payload, namespace="git")
        folded = signature.rstrip(b"\n").replace(b"\n", b"\n ")
        raw = head.encode() + b"gpgsig " + folded + b"\n\n" + f"change {i}\n".encode()
        parent = writer.write("commit", raw).hex()
        shas.append(parent)
    writer.finish(path / ".git")
    subprocess.run(
        ["git", "-C", str(path), "update-ref", "refs/heads/main", parent or ""], check=True
    )
    return shas


def write_policy(path: Path, public: str, ssh_public: str) -> None:
    document = {
        "apiVersion": "gatekeeper.dev/v1alpha1",
        "kind": "TrustPolicy",
        "mode": "strict",
        "signers": [
            {"name": "alice", "emails": ["alice@example.com"], "openpgp": public},
            {"name": "bob", "emails": ["bob@example.com"], "ssh": [ssh_public]},
        ],
        "rules": [
            {"paths": ["apps/team-0/**"], "signers": ["alice", "bob"], "minSigners": 2},
            {"paths": ["apps/**"], "signers": ["alice", "bob"]},
        ],
    }
    path.write_text(yaml.safe_dump(document))


def baseline(work: Path, repo: Path, shas: list[str], public: str, ssh_public: str) -> float:
    """Seconds per commit of `git verify-commit`, over the given commits."""
    home = work / "verify-gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    _gpg(home, "--import", stdin=public.encode())
    allowed = work / "allowed_signers"
    allowed.write_text(f"bob@example.com {ssh_public}\n")
    env = {**os.environ, "GNUPGHOME": str(home)}
    config = ["-c", f"gpg.ssh.allowedSignersFile={allowed}"]
    started = time.perf_counter()
    for sha in shas:
        done = subprocess.run(
            ["git", "-C", str(repo), *config, "verify-commit", sha],
            env=env,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"git verify-commit rejected {sha}: {done.stderr.decode()}")
    return (time.perf_counter() - started) / len(shas)


def spread_sample(shas: list[str], size: int) -> tuple[list[str], list[str]]:
    """Up to `size` commits spread over the history: (OpenPGP-signed, SSH-signed) halves."""
    pairs = max(1, min(size, len(shas)) // 2)
    stride = max(2, (len(shas) // pairs) & ~1)
    even = list(range(0, len(shas), stride))[:pairs]
    return [shas[i] for i in even], [shas[i + 1] for i in even if i + 1 < len(shas)]


def stop_agents(work: Path) -> None:
    for home in (work / "gnupg", work / "verify-gnupg"):
        if home.exists():
            env = {**os.environ, "GNUPGHOME": str(home)}
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)


def verify_all(work: Path, commits: int) -> float:
    """Seconds to load the trust policy and verify the whole range in strict mode.

    Each pass runs in a new process: Sequoia remembers the signatures it verified, so a
    second pass in the same process would check OpenPGP signatures from that memory.
    """
    args = ["--pass", str(work), "--commits", str(commits)]
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"a verification pass failed: {done.stderr.strip()}")
    seconds: float = json.loads(done.stdout)["seconds"]
    return seconds


def one_pass(work: Path, commits: int) -> float:
    """One timed pass in this process (see verify_all)."""
    started = time.perf_counter()
    policy = load_trust_policy(work / "trust.yaml")
    result = verify_range(GitRepository(work / "repo"), policy, since=None, target="main")
    seconds = time.perf_counter() - started
    if len(result.commits) != commits or not result.trusted:
        raise SystemExit(f"verification did not trust the range: {result.untrusted[:1]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--baseline-sample", type=int, default=400, help="commits timed with git")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pass", dest="one_pass", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_pass is not None:
        print(json.dumps({"seconds": one_pass(args.one_pass, args.commits)}))
        return 0
    at_start = machine()
    with tempfile.TemporaryDirectory(prefix="bench-provenance-") as tmp:
        work = Path(tmp)
        tsk, public, ssh_key, ssh_public = make_keys(work)
        repo = work / "repo"
        started = time.perf_counter()
        shas = build_repo(repo, args.commits, tsk, ssh_key)
        build_seconds = time.perf_counter() - started
        write_policy(work / "trust.yaml", public, ssh_public)

        # Even commits are OpenPGP-signed and odd ones SSH-signed: time each format apart.
        # The verification and git take turns (verify, half the sample, verify, the other
        # half, verify), so that both see the same load; the figure is the median pass.
        openpgp_sample, ssh_sample = spread_sample(shas, args.baseline_sample)
        passes = [verify_all(work, args.commits)]
        git_times: dict[str, list[float]] = {"openpgp": [], "ssh": []}
        for half in (0, 1):
            for name, sample in (("openpgp", openpgp_sample), ("ssh", ssh_sample)):
                part = sample[half::2]
                if part:
                    git_times[name].append(baseline(work, repo, part, public, ssh_public))
            passes.append(verify_all(work, args.commits))
        seconds = statistics.median(passes)
        per_openpgp = statistics.mean(git_times["openpgp"])
        per_ssh = statistics.mean(git_times["ssh"]) if git_times["ssh"] else 0.0
        stop_agents(work)
        counts = {"openpgp": (args.commits + 1) // 2, "ssh": args.commits // 2}
        baseline_seconds = per_openpgp * counts["openpgp"] + per_ssh * counts["ssh"]
        sampled = len(openpgp_sample) + len(ssh_sample)

    figures = {
        **at_start,
        "commits": args.commits,
        "seconds": round(seconds, 3),
        "first_pass_seconds": round(passes[0], 3),
        "baseline_seconds": round(baseline_seconds, 3),
        "speedup": round(baseline_seconds / seconds, 1),
        "per_commit_us": round(seconds / args.commits * 1e6, 1),
        "baseline_per_commit_ms": {
            "openpgp": round(per_openpgp * 1e3, 3),
            "ssh": round(per_ssh * 1e3, 3),
        },
        "baseline_sampled_commits": sampled,
        "baseline_extrapolated": sampled < args.commits,
        "build_seconds": round(build_seconds, 3),
        "formats": counts,
        "mode": "strict",
        "trusted": True,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
