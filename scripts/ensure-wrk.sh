#!/usr/bin/env bash
# Make sure `wrk` (the load generator of bench/admission.py) is installed: the Debian package.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    run=()
    if [ "$(id -u)" -ne 0 ]; then
        run=(sudo)
    fi
    "${run[@]}" apt-get update -qq && "${run[@]}" apt-get install -y -qq wrk && exit 0
fi
echo "wrk is not installed and could not be: bench/admission.py leaves out its wrk figures" >&2
