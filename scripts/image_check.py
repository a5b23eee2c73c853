"""Checks that the image can do what the chart asks of it; run by scripts/build-image.sh.

It runs inside the image's root filesystem, mounted read-only with an empty /tmp, as the
image's user, with the image's Python, and is given on standard input (nothing of it stays in
the image). Each check is a real run: the commands the chart runs (`--help` of each, then the
work they need the image for), a PDF report of a SQLite audit log, Git over `file://`, and
clones over HTTPS and SSH that must fail for the network's reason (a closed port), not for a
missing program. Any failure is printed and makes the build fail.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

GATEKEEPER = "gatekeeper"  # /usr/local/bin/gatekeeper in the image
# What the chart runs (charts/gitops-gatekeeper/templates) and the commands operators exec.
COMMANDS = (
    ("serve",),
    ("reconcile",),
    ("dashboard",),
    ("webhook", "certs"),
    ("webhook", "exclude-namespaces"),
    ("db", "upgrade"),
    ("audit", "verify"),
    ("audit", "keygen"),
    ("audit", "checkpoint"),
    ("rollback",),
    ("report",),
    ("status",),
    ("verify",),
)
# Modules only the development commands load: their tools are not in the image.
DEV_ONLY = ("gatekeeper.devcluster", "gatekeeper.demo", "gatekeeper.cli.devcluster")
failures: list[str] = []
CHECKS: list[Callable[[Path], None]] = []


def check(name: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(test: Callable[[Path], None]) -> Callable[[Path], None]:
        def guarded(work: Path) -> None:
            try:
                test(work)
            except Exception as exc:  # report every failing check, not only the first
                where = traceback.extract_tb(exc.__traceback__)[-1]
                failures.append(f"{name}: {exc!r} at {where.filename}:{where.lineno}")
            else:
                print(f"image check: {name}: ok", file=sys.stderr)

        CHECKS.append(guarded)
        return guarded

    return register


def run(args: Sequence[str], *, expect: int = 0, cwd: Path | None = None) -> str:
    """Run a command; its standard output. It must exit `expect` and print no traceback or
    warning (a missing optional module shows as one)."""
    done = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False)
    noise = [w for w in ("Traceback", "Warning:", "not a git command") if w in done.stderr]
    if done.returncode != expect or noise:
        raise RuntimeError(
            f"{' '.join(args)} exited {done.returncode} (expected {expect}): "
            f"{done.stderr.strip()[-1500:]}"
        )
    return done.stdout


@check("tools the chart and the node test exec: sleep, sh, python3")
def tools(work: Path) -> None:
    run(["sleep", "0"])
    run(["sh", "-c", "exit 0"])
    run(["python3", "-c", "import sys; sys.exit(0)"])


@check("--help of every command the chart runs; usage errors without a traceback")
def helps(work: Path) -> None:
    for command in COMMANDS:
        run([GATEKEEPER, *command, "--help"])
    run([GATEKEEPER, "--version"])
    run([GATEKEEPER, "webhook", "no-such-command"], expect=2)
    run([GATEKEEPER, "audit", "verify", "--no-such-option"], expect=2)


@check("every module of the gatekeeper package imports (but the development commands')")
def modules(work: Path) -> None:
    import gatekeeper

    bad = []
    for found in pkgutil.walk_packages(gatekeeper.__path__, "gatekeeper."):
        if found.name.startswith(DEV_ONLY) or found.name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(found.name)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            bad.append(f"{found.name}: {exc!r} at {where.filename}:{where.lineno}")
    if bad:
        raise RuntimeError("; ".join(bad))


@check(
    "compiled dependencies load: psycopg's binary driver, uvloop, httptools, regorus; time zones"
)
def natives(work: Path) -> None:
    import zoneinfo

    import httptools
    import psycopg
    import regorus
    import uvloop

    if psycopg.pq.__impl__ != "binary":
        raise RuntimeError(f"psycopg uses its {psycopg.pq.__impl__} implementation")
    uvloop.new_event_loop().close()
    summer = dt.datetime(2026, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    if summer.utcoffset() != dt.timedelta(hours=2):
        raise RuntimeError("the time zone Europe/Berlin is wrong or missing")
    httptools.HttpRequestParser(object())
    engine = regorus.Engine()
    engine.add_policy("check.rego", "package check\nallow := input.x == 1\n")
    engine.set_input_json(json.dumps({"x": 1}))
    if (
        json.loads(engine.eval_query_as_json("data.check.allow"))["result"][0]["expressions"][0][
            "value"
        ]
        is not True
    ):
        raise RuntimeError("regorus evaluated a true rule as false")


@check("signature worker: starts from the image's Python and checks SSH signatures")
def signature_worker(work: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from gatekeeper.provenance import sigpool, sigworker, sshsig
    from gatekeeper.provenance.signatures import Keyring
    from gatekeeper.provenance.ssh import SshKey
    from gatekeeper.provenance.verdicts import Reason, SignatureFormat

    key = ed25519.Ed25519PrivateKey.generate()
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = sshsig.public_key_blob(line.decode())
    keyring = Keyring(ssh=[SshKey("dev", blob, sshsig.load_public_key(blob))])
    payload = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nsigned\n"
    signature = sshsig.sign(key, payload, namespace=sshsig.GIT_NAMESPACE)
    now = dt.datetime.now(dt.UTC)
    worker = subprocess.Popen(
        sigpool.worker_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        sigworker.write_frame(worker.stdin, keyring.portable())
        if sigworker.read_frame(worker.stdout) != "ready":
            raise RuntimeError("the worker did not say it is ready")
        jobs = [(SignatureFormat.SSH, payload, signature, now)]
        jobs.append((SignatureFormat.SSH, payload + b"changed\n", signature, now))
        sigworker.write_frame(worker.stdin, (0, jobs))
        number, verdicts = sigworker.read_frame(worker.stdout)
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
        worker.stdout.close()
    reasons = [verdict.reason for verdict in verdicts]
    if number != 0 or reasons != [Reason.TRUSTED, Reason.BAD_SIGNATURE]:
        raise RuntimeError(f"the worker answered batch {number} with {reasons}")


@check("webhook certificates: a CA and a serving certificate")
def certificates(work: Path) -> None:
    from gatekeeper.admission.certs import Lifetimes, expiry, make

    day = dt.timedelta(days=1)
    made = make(
        ["gatekeeper.gatekeeper-system.svc"],
        Lifetimes(authority=day * 3650, certificate=day * 90, renew_before=day * 30),
        dt.datetime.now(dt.UTC),
    )
    if expiry(made.cert) <= dt.datetime.now(dt.UTC):
        raise RuntimeError("the certificate made is already expired")


@check("audit log on SQLite: keygen, db upgrade, checkpoint, verify, PDF and HTML reports")
def audit_and_reports(work: Path) -> None:
    from gatekeeper.audit.events import NewEvent
    from gatekeeper.audit.store import AuditStore
    from gatekeeper.settings import load_settings

    keys = work / "keys"
    run([GATEKEEPER, "audit", "keygen", "--out", str(keys)])
    config = work / "gatekeeper.yaml"
    config.write_text(
        json.dumps(
            {
                "database": {"url": f"sqlite:///{work / 'audit.db'}"},
                "audit": {
                    "signingKeyFile": str(keys / "audit-ed25519.pem"),
                    "publicKeyFile": str(keys / "audit-ed25519.pub"),
                    "secretDigestKeyFile": str(keys / "secret-digest.key"),
                },
            }
        )
    )
    gk = [GATEKEEPER, "--config", str(config)]
    run([*gk, "db", "upgrade"])
    store = AuditStore.from_settings(load_settings(config))
    try:
        store.append(
            NewEvent(
                kind="breakglass",
                actor="bob",
                subject="apps/Deployment/team-a/wüb€中→",
                payload={"reason": "INC-42 outage ü € 中 →"},
            )
        )
    finally:
        store.close()
    run([*gk, "audit", "checkpoint"])
    run([*gk, "audit", "verify"])
    for fmt in ("pdf", "html"):
        out = work / f"report.{fmt}"
        run([*gk, "report", "--format", fmt, "-o", str(out)])
        if not (work / f"report.{fmt}.sig").is_file():
            raise RuntimeError(f"report.{fmt} was not signed")
    pdf = (work / "report.pdf").read_bytes()
    if not pdf.startswith(b"%PDF-") or b"/FontFile2" not in pdf or b"DejaVu" not in pdf:
        raise RuntimeError("report.pdf is not a PDF with the DejaVu font embedded")


def _git(args: Sequence[str], cwd: Path | None = None) -> str:
    identity = ["-c", "user.name=check", "-c", "user.email=check@example.invalid"]
    return run(["git", *identity, *args], cwd=cwd)


@check("git: a mirror clone over file://, fetch, and the reads the reconciler makes")
def git_local(work: Path) -> None:
    from gatekeeper.reconcile.gitsource import GitMirror

    origin = work / "origin"
    _git(["init", "-q", "-b", "main", str(origin)])
    (origin / "apps").mkdir()
    (origin / "apps" / "web.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    _git(["add", "."], cwd=origin)
    _git(["commit", "-q", "-m", "first"], cwd=origin)
    trust = work / "trust.yaml"
    trust.write_text("{}\n")
    mirror = GitMirror(
        url=f"file://{origin}", ref="main", trust_file=trust, cache_dir=work / "cache"
    )
    head = mirror.fetch()
    (origin / "apps" / "web.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n# two\n")
    _git(["commit", "-q", "-am", "second"], cwd=origin)
    second = mirror.fetch()
    if head == second or not mirror.is_ancestor(head, second):
        raise RuntimeError("the fetch did not bring the second commit")
    exported = mirror.export(second, "apps", work / "export")
    if "# two" not in (exported / "web.yaml").read_text():
        raise RuntimeError("the export does not hold the second commit's file")
    _git(["--git-dir", str(mirror.git_dir), "rev-list", "--count", second])
    _git(["--git-dir", str(mirror.git_dir), "cat-file", "-p", second])


@check("git over HTTPS and SSH reaches the network (a closed port refuses it)")
def git_remotes(work: Path) -> None:
    from gatekeeper.provenance.remote import Credentials, RemoteError
    from gatekeeper.provenance.repository import GitRepository

    known_hosts = work / "known_hosts"
    known_hosts.write_text("")
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"
    attempts = (
        ("https://127.0.0.1:1/repo.git", None),
        ("https://127.0.0.1:1/repo.git", Credentials(username="u", password="p")),  # noqa: S106
        ("ssh://git@127.0.0.1:1/repo.git", None),
        ("ssh://git@127.0.0.1:1/repo.git", Credentials(private_key=key, known_hosts=known_hosts)),
    )
    for number, (url, credentials) in enumerate(attempts):
        try:
            GitRepository.clone(url, work / f"remote-{number}", credentials=credentials, timeout=60)
        except RemoteError as exc:
            if exc.reason != "unreachable":
                raise RuntimeError(f"{url}: failed otherwise ({exc.reason}): {exc}") from exc
        else:
            raise RuntimeError(f"{url}: a clone from a closed port succeeded")


def main() -> int:
    os.umask(0o077)
    with tempfile.TemporaryDirectory(prefix="image-check-") as scratch:
        for number, test in enumerate(CHECKS):
            work = Path(scratch) / str(number)
            work.mkdir()
            test(work)
    for failure in failures:
        print(f"image check failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
