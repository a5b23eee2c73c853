#!/usr/bin/env bash
# Make sure a Debian package the tests or benchmarks use is installed.
#   ensure-package.sh PACKAGE FILE WHAT
# FILE is a file the package provides (installed when it is missing); WHAT says what goes
# without it. Under CI=true a package that cannot be installed fails the run, elsewhere it
# only says what will be skipped.
set -euo pipefail
package=$1 file=$2 what=$3
if [ -e "$file" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    run=()
    if [ "$(id -u)" -ne 0 ]; then
        run=(sudo -n)
    fi
    install() {
        DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends \
            "$package" >/dev/null
    }
    install 2>/dev/null || { "${run[@]}" apt-get update -qq >/dev/null && install; } || true
    [ -e "$file" ] && exit 0
fi
if [ "${CI:-}" = "true" ]; then
    echo "$package is not installed and could not be installed ($what needs it)" >&2
    exit 1
fi
echo "$package is not installed: $what will be skipped" >&2
