"""Benchmark: wall time of `gatekeeper` command lines, each a fresh process, beside Python's own.

Times `python -c pass`, `gatekeeper --help`, `gatekeeper policy test` on a one-file policy
with one test, and `gatekeeper verify` on a repository of 10 SSH-signed commits, taking turns
run after run so that a busy machine slows all of them alike. The commands run the code of
the checkout this file is in (it goes first on PYTHONPATH).

    python bench/cli.py --json [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMITS = 10
EMAIL = "bench@example.com"

POLICY = """package bench

import rego.v1

default allow := false

allow if input.user == "alice"

test_alice_is_allowed if allow with input as {"user": "alice"}
"""


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GATEKEEPER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # The signing user's git configuration must not change what the repository holds.
    env |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return env


def _gatekeeper() -> list[str]:
    """The console script next to this interpreter, as a user runs it; else its equivalent."""
    script = Path(sys.executable).with_name("gatekeeper")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from gatekeeper.cli import run; run()"]


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}"
        )


def make_policy(work: Path) -> Path:
    folder = work / "policy"
    folder.mkdir()
    (folder / "bench.rego").write_text(POLICY)
    return folder


def make_signed_repo(work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """COMMITS commits signed by `git commit -S` with a new SSH key, and a trust file for it."""
    key = work / "id_ed25519"
    _run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", EMAIL, "-f", str(key)],
        cwd=work,
        env=env,
    )
    public = key.with_suffix(".pub").read_text().strip()
    repo = work / "repo"
    _run(["git", "init", "-q", "-b", "main", str(repo)], cwd=work, env=env)
    config = [
        "-c", "user.name=Bench", "-c", f"user.email={EMAIL}",
        "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}",
    ]  # fmt: skip
    for i in range(COMMITS):
        app = repo / "apps" / f"app-{i % 3}.yaml"
        app.parent.mkdir(parents=True, exist_ok=True)
        app.write_text(f"replicas: {i}\n")
        _run(["git", "-C", str(repo), "add", "-A"], cwd=work, env=env)
        _run(
            ["git", "-C", str(repo), *config, "commit", "-q", "-S", "-m", f"change {i}"],
            cwd=work,
            env=env,
        )
    trust = work / "trust.yaml"
    document = {
        "apiVersion": "gatekeeper.dev/v1alpha1",
        "kind": "TrustPolicy",
        "mode": "strict",
        "signers": [{"name": "bench", "emails": [EMAIL], "ssh": [public]}],
        "rules": [{"paths": ["**"], "signers": ["*"]}],
    }
    # JSON is YAML, and the standard library writes it.
    trust.write_text(json.dumps(document, indent=2))
    return repo, trust


def measure(runs: int) -> dict[str, float]:
    env = _environment()
    gatekeeper = _gatekeeper()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        policy = make_policy(work)
        repo, trust = make_signed_repo(work, env)
        commands = {
            "python_startup_s": [sys.executable, "-c", "pass"],
            "help_s": [*gatekeeper, "--help"],
            "policy_test_s": [*gatekeeper, "policy", "test", str(policy)],
            "verify_small_s": [*gatekeeper, "verify", "--repo", str(repo), "--trust", str(trust)],
        }
        for args in commands.values():  # once untimed: each must succeed, and caches warm
            _run(args, cwd=work, env=env)
        samples: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(runs):
            for key, args in commands.items():
                started = time.perf_counter()
                _run(args, cwd=work, env=env)
                samples[key].append(time.perf_counter() - started)
    figures = {key: statistics.median(values) for key, values in samples.items()}
    figures["help_vs_startup"] = figures["help_s"] / figures["python_startup_s"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = {"runs": args.runs} | {
        key: round(value, 4) if key.endswith("_s") else round(value, 1)
        for key, value in measure(args.runs).items()
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>17}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
