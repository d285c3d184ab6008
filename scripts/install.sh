#!/usr/bin/env bash
# Creates .venv and installs live-monitor into it (editable). With --test, also the test dependencies and the
# real servers the tests start: Debian's prometheus (with promtool), prometheus-alertmanager (with amtool)
# and chromium (the status-page browser test).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
if [ "${1:-}" = "--test" ]; then
    extras="[test]"
    scripts/install-servers.sh
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e ".${extras}"
