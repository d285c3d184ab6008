#!/usr/bin/env bash
# Installs the real servers the tests run against, from Debian's archive, when they are missing:
# prometheus (with promtool), prometheus-alertmanager (with amtool) and chromium; for the deployment tests,
# docker-compose (its parser validates docker-compose.yml; no engine is needed) and python3-venv (Debian's
# Python 3.11 stands in for the image's base Python when the image's install steps are replayed as a
# non-root user, who cannot reach a Python under /root). The alert rules use
# `keep_firing_for`, which needs Prometheus >= 2.42 (Debian bookworm's version); an older one is refused here
# rather than failing later with a rule-file parse error.
set -euo pipefail

need=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium)
command -v docker-compose >/dev/null || need+=(docker-compose)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing ${need[*]} from Debian's archive" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

version=$(promtool --version 2>&1 | sed -n 's/^promtool, version \([0-9]*\.[0-9]*\).*/\1/p')
if [ -z "$version" ] || [ "$(printf '%s\n' 2.42 "$version" | sort -V | head -n1)" != 2.42 ]; then
    echo "promtool ${version:-(unknown version)} is older than 2.42: the alert rules need keep_firing_for" >&2
    exit 1
fi
