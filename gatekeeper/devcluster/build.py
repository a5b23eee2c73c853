"""Builds Kubernetes binaries from Debian's own `kubernetes` source package (DESIGN section 9).

kube-apiserver alone for a plain plane; kubelet, kube-controller-manager, kube-scheduler and
kube-proxy as well for a plane with a node (`--with-nodes`), all of one version, with one
`make` for whatever is missing from the cache.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from gatekeeper.devcluster import BinariesMissing, BuildFailed
from gatekeeper.devcluster.binaries import KUBE_APISERVER, KUBELET, cached_version_dirs

Progress = Callable[[str], None]

BUILD_PACKAGES = ("golang-go", "rsync", "golang-github-modern-go-reflect2-dev", "dpkg-dev", "make")
ETCD_PACKAGE = "etcd-server"
REFLECT2_SOURCE = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
SYSTEM_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SYSTEM_SOURCES_LIST = Path("/etc/apt/sources.list")
HEARTBEAT_SECONDS = 30.0
PAUSE_SOURCE = Path("build/pause/linux/pause.c")

OTHER_SYSTEMS_HELP = (
    "kube-apiserver and etcd were not found, and they can only be built here on Debian (amd64).\n"
    "Options:\n"
    "  - point KUBEBUILDER_ASSETS at a folder holding kube-apiserver and etcd\n"
    "    (for example the one `setup-envtest use -p path` prints);\n"
    "  - put kube-apiserver and etcd on PATH;\n"
    "  - run the tests against an existing cluster:\n"
    "    GATEKEEPER_TEST_KUBECONFIG=/path/to/kubeconfig\n"
    "    (an identity allowed to impersonate and to manage RBAC)."
)


def is_debian() -> bool:
    """True on Debian and its derivatives, where apt can fetch what the build needs."""
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def deb_src_sources(text: str) -> str:
    """The system's apt sources turned into source entries (deb822 or one-line format)."""
    lines = []
    for line in text.splitlines():
        if re.match(r"^Types:", line):
            lines.append("Types: deb-src")
        elif re.match(r"^deb\s", line):
            lines.append("deb-src " + line[4:].lstrip())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def upstream_version(debian_version: str) -> str:
    """`1.20.5+really1.20.2-1.1` -> `1.20.2`: the Kubernetes version a Debian version carries."""
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    if "+really" in version:
        version = version.split("+really", 1)[1]
    match = re.match(r"^\d+(\.\d+)*", version)
    if not match:
        raise BuildFailed(f"cannot read a Kubernetes version from {debian_version!r}")
    return match.group(0)


def missing_packages(names: Sequence[str]) -> list[str]:
    """The Debian packages among `names` that are not installed."""
    missing = []
    for name in names:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.stdout.strip() != "installed":
            missing.append(name)
    return missing


def install_packages(names: Sequence[str], *, progress: Progress, log: Path) -> None:
    """Install Debian packages with apt-get (as root), refreshing the package lists first."""
    missing = missing_packages(names)
    if not missing:
        return
    if os.geteuid() != 0:
        raise BinariesMissing(
            "these Debian packages are needed: "
            + " ".join(missing)
            + f"\nInstall them as root: apt-get install -y {' '.join(missing)}"
        )
    progress(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], cwd=Path.cwd(), env=env, log=log, progress=progress)
    _run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        cwd=Path.cwd(),
        env=env,
        log=log,
        progress=progress,
    )


def cached_binary(cache: Path, name: str) -> Path | None:
    """The newest cached build of `name`, if any."""
    for version_dir in cached_version_dirs(cache):
        candidate = version_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def cached_kube_apiserver(cache: Path) -> Path | None:
    """The newest kube-apiserver in the cache, if any."""
    return cached_binary(cache, KUBE_APISERVER)


@contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """One build per machine at a time: a second caller waits, then finds the first's result."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_kube_apiserver(*, cache: Path, progress: Progress) -> Path:
    """Build kube-apiserver from Debian's source package into `cache/<version>/`; return it."""
    return build_binaries((KUBE_APISERVER,), cache=cache, progress=progress)[KUBE_APISERVER]


def build_info_file(version_dir: Path, names: Sequence[str]) -> Path:
    """`build-info.json` for the build that made kube-apiserver, `build-info-<name>.json`
    (named after the first binary) for a later build of other binaries in the same folder."""
    if KUBE_APISERVER in names:
        return version_dir / "build-info.json"
    return version_dir / f"build-info-{sorted(names)[0]}.json"


def build_binaries(names: Sequence[str], *, cache: Path, progress: Progress) -> dict[str, Path]:
    """Build those of `names` the cache lacks (one `make`); return where each one is."""
    if not is_debian():
        raise BinariesMissing(OTHER_SYSTEMS_HELP)
    with _cache_lock(cache):
        found = {name: cached_binary(cache, name) for name in names}
        missing = [name for name, path in found.items() if path is None]
        if not missing:
            return {name: path for name, path in found.items() if path is not None}
        log = cache / "build.log"
        log.write_text("")
        what = ", ".join(missing)
        progress(f"building {what} from Debian's sources (log: {log})")
        started = time.monotonic()
        install_packages(BUILD_PACKAGES, progress=progress, log=log)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
        try:
            tree, debian_version = _fetch_source(work, progress=progress, log=log)
            version = upstream_version(debian_version)
            _replace_reflect2(tree, progress=progress)
            built = _make(work, tree, version, missing, progress=progress, log=log)
            target_dir = cache / version
            target_dir.mkdir(parents=True, exist_ok=True)
            if KUBELET in missing:
                # The pause image (the Pods' sandbox) is built from this file (nodeimages.py).
                shutil.copy2(tree / PAUSE_SOURCE, target_dir / "pause.c")
            for name, binary in built.items():
                partial = target_dir / f".{name}.partial"
                shutil.copy2(binary, partial)
                partial.chmod(0o755)
                partial.replace(target_dir / name)
                found[name] = target_dir / name
            seconds = round(time.monotonic() - started, 1)
            info = {
                "source": f"debian kubernetes {debian_version}",
                "version": version,
                "binaries": missing,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "build_seconds": seconds,
            }
            build_info_file(target_dir, missing).write_text(json.dumps(info, indent=2) + "\n")
            progress(f"built {what} {version} in {seconds:.0f} s: {target_dir}")
        except BaseException:
            progress(f"build failed; the work tree is kept in {work} and the log is {log}")
            raise
        shutil.rmtree(work, ignore_errors=True)
        return {name: path for name, path in found.items() if path is not None}


def _fetch_source(work: Path, *, progress: Progress, log: Path) -> tuple[Path, str]:
    """`apt-get source kubernetes` through a private apt directory with deb-src entries."""
    progress("fetching Debian's kubernetes source package")
    apt = work / "apt"
    parts = apt / "sources.list.d"
    lists = apt / "lists"
    for folder in (parts, lists / "partial", apt / "cache" / "archives" / "partial"):
        folder.mkdir(parents=True, exist_ok=True)
    if SYSTEM_SOURCES.exists():
        (parts / "debian.sources").write_text(deb_src_sources(SYSTEM_SOURCES.read_text()))
    elif SYSTEM_SOURCES_LIST.exists():
        (parts / "debian.list").write_text(deb_src_sources(SYSTEM_SOURCES_LIST.read_text()))
    else:
        raise BuildFailed("no apt sources found to derive a deb-src entry from")
    options = [
        "-o",
        f"Dir::Etc::SourceParts={parts}",
        "-o",
        "Dir::Etc::SourceList=/dev/null",
        "-o",
        f"Dir::State::Lists={lists}",
        "-o",
        f"Dir::Cache={apt / 'cache'}",
        # The private folders belong to whoever runs the build; apt's sandbox user cannot write.
        "-o",
        f"APT::Sandbox::User={pwd.getpwuid(os.geteuid()).pw_name}",
    ]
    env = dict(os.environ)
    _run(["apt-get", *options, "update", "-q"], cwd=work, env=env, log=log, progress=progress)
    source = work / "src"
    source.mkdir()
    _run(
        ["apt-get", *options, "source", "-q", "kubernetes"],
        cwd=source,
        env=env,
        log=log,
        progress=progress,
    )
    trees = [p for p in source.iterdir() if p.is_dir() and (p / "debian" / "changelog").exists()]
    if len(trees) != 1:
        raise BuildFailed(f"expected one unpacked kubernetes tree in {source}, found {trees}")
    changelog = subprocess.run(
        ["dpkg-parsechangelog", "-l", str(trees[0] / "debian" / "changelog"), "-S", "Version"],
        capture_output=True,
        text=True,
        check=True,
    )
    return trees[0], changelog.stdout.strip()


def _replace_reflect2(tree: Path, *, progress: Progress) -> None:
    """Vendored reflect2 1.0.1 panics under Go 1.18+; Debian's 1.0.2 does not."""
    vendored = tree / "vendor" / "github.com" / "modern-go" / "reflect2"
    if not REFLECT2_SOURCE.is_dir():
        raise BuildFailed(f"{REFLECT2_SOURCE} is missing (golang-github-modern-go-reflect2-dev)")
    progress("replacing the vendored modern-go/reflect2 with Debian's 1.0.2")
    shutil.rmtree(vendored, ignore_errors=True)
    shutil.copytree(REFLECT2_SOURCE, vendored, symlinks=False)


def _make(
    work: Path, tree: Path, version: str, names: Sequence[str], *, progress: Progress, log: Path
) -> dict[str, Path]:
    """`make WHAT="cmd/kube-apiserver ..."` in GOPATH mode, as Debian builds it."""
    gopath = work / ".go"
    link = gopath / "src" / "k8s.io" / "kubernetes"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(tree, target_is_directory=True)
    major, minor = version.split(".")[:2]
    version_file = work / "version.env"
    # Without git metadata the binary would call itself v0.0.0; say what it really is.
    version_file.write_text(
        f"KUBE_GIT_VERSION='v{version}'\nKUBE_GIT_MAJOR='{major}'\nKUBE_GIT_MINOR='{minor}'\n"
        "KUBE_GIT_TREE_STATE='archive'\nKUBE_GIT_COMMIT=''\n"
    )
    env = {
        **os.environ,
        "GOPATH": str(gopath),
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
        "GOCACHE": str(work / "gocache"),
        "KUBE_GIT_VERSION_FILE": str(version_file),
        "KUBE_VERBOSE": "2",
    }
    minutes = "about 15 minutes" if set(names) - {KUBE_APISERVER} else "about 5 minutes"
    progress(f"compiling {', '.join(names)} {version} ({minutes} on 2 cores)")
    what = " ".join(f"cmd/{name}" for name in names)
    _run(
        ["nice", "-n", "10", "make", f"WHAT={what}"],
        cwd=link,
        env=env,
        log=log,
        progress=progress,
    )
    built = {}
    for name in names:
        candidates = [p for p in sorted((tree / "_output").glob(f"**/bin/{name}")) if p.is_file()]
        if not candidates:
            raise BuildFailed(f"make finished but no {name} was found under {tree}/_output")
        built[name] = candidates[0]
    return built


def _last_line(log: Path) -> str:
    with log.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 2048))
        lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:160] if lines else ""


def _run(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    progress: Progress,
) -> None:
    """Run one step with its output in the log, saying every half minute that it still runs."""
    with log.open("a") as sink:
        sink.write(f"\n$ {' '.join(command)}\n")
        sink.flush()
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT
        )
        next_beat = started + HEARTBEAT_SECONDS
        while process.poll() is None:
            time.sleep(0.5)
            if time.monotonic() >= next_beat:
                elapsed = time.monotonic() - started
                progress(f"  ... {elapsed:.0f} s: {_last_line(log)}")
                next_beat += HEARTBEAT_SECONDS
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildFailed(
            f"`{' '.join(command)}` failed with exit code {process.returncode}; "
            f"full log: {log}\n{tail}"
        )
