#!/usr/bin/env bash
# Installs the pinned moto server (the AWS emulator the integration tests use)
# into a virtualenv. Idempotent: a marker file holding the pinned version makes
# a second run a no-op. Prints the venv path last.
set -euo pipefail

MOTO_VERSION="5.2.5"
VENV="${PGSTACK_MOTO_VENV:-$HOME/.cache/pgstack-moto-venv}"
MARKER="$VENV/.pgstack-moto-version"

if [[ -x "$VENV/bin/python" && -f "$MARKER" && "$(cat "$MARKER")" == "$MOTO_VERSION" ]]; then
    echo "$VENV"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
echo "installing moto[server]==$MOTO_VERSION into $VENV" >&2
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
# Fail here, not in the first test, if the server module cannot be imported.
"$VENV/bin/python" -c "from moto.server import ThreadedMotoServer"
echo "$MOTO_VERSION" > "$MARKER"
echo "$VENV"
