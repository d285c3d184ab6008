#!/usr/bin/env sh
# The install step of the container image, kept in one script so that the Dockerfile and the test that
# replays it (tests/deployment/test_image.py) run exactly the same commands.
#   image-install.sh SOURCE_DIR VENV_DIR
# Builds a wheel from SOURCE_DIR (which may be read-only) and installs it into a new virtualenv at VENV_DIR.
set -eu
src=$1
venv=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --no-cache-dir --quiet --upgrade pip
# Build out of tree: a read-only source directory must not be written to (no build/ or *.egg-info there).
cp -R "$src/pyproject.toml" "$src/README.md" "$src/monitor" "$work/"
# monitor/emulator/data/scenarios is a relative symlink to config/scenarios: the wheel packages the scenarios
# through it, so they must sit at the same place beside the copy.
mkdir -p "$work/config"
cp -R "$src/config/scenarios" "$work/config/"
chmod -R u+w "$work"
"$venv/bin/pip" wheel --no-cache-dir --quiet --no-deps --wheel-dir "$work/dist" "$work"
"$venv/bin/pip" install --no-cache-dir --quiet "$work"/dist/*.whl
