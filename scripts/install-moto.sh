#!/usr/bin/env bash
# Installs the pinned moto server (the AWS emulator the integration tests use)
# and cbor2 (for the CloudWatch protocol shim in scripts/cbor_shim.py) into a
# virtualenv. Idempotent: a marker file holding the pinned versions makes a
# second run a no-op. Prints the venv path last.
set -euo pipefail

MOTO_VERSION="5.2.5"
CBOR2_VERSION="6.2.1"
REQUIREMENTS=("moto[server]==$MOTO_VERSION" "cbor2==$CBOR2_VERSION")
PINNED="${REQUIREMENTS[*]}"
VENV="${PGSTACK_MOTO_VENV:-$HOME/.cache/pgstack-moto-venv}"
MARKER="$VENV/.pgstack-moto-version"

if [[ -x "$VENV/bin/python" && -f "$MARKER" && "$(cat "$MARKER")" == "$PINNED" ]]; then
    echo "$VENV"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
echo "installing $PINNED into $VENV" >&2
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
# Fail here, not in the first test, if the server or the shim cannot be imported.
"$VENV/bin/python" -c "from moto.server import ThreadedMotoServer; import cbor2"
echo "$PINNED" > "$MARKER"
echo "$VENV"
