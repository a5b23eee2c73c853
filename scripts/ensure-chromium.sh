#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the dashboard's browser tests (Playwright drives
# it through executable_path: it cannot download its own browsers here).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends chromium >/dev/null; }
    command -v chromium >/dev/null 2>&1 && exit 0
fi
if [ "${CI:-}" = "true" ]; then
    echo "chromium is not installed and could not be installed" >&2
    exit 1
fi
echo "chromium is not installed: the browser tests will be skipped" >&2
