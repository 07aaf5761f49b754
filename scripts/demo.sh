#!/usr/bin/env bash
# The pgstack demo, against a local AWS emulator (moto) on 127.0.0.1:
# build, apply examples/quickstart.toml, show a no-change plan, change the KMS
# key's description and apply it in place, make an out-of-band change and
# report it with `pgstack drift`, then destroy everything.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgstack-target}"
export PGSTACK_MOTO_VENV="${PGSTACK_MOTO_VENV:-$HOME/.cache/pgstack-moto-venv}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Building pgstack (debug)"
cargo build --locked --bin pgstack
PGSTACK="$CARGO_TARGET_DIR/debug/pgstack"

step "Starting moto on 127.0.0.1"
VENV="$(scripts/install-moto.sh)"
# The server reads its stdin until EOF: it stops when this script exits.
coproc MOTO { exec "$VENV/bin/python" scripts/moto_server.py 0; }
read -r -t 60 ready port <&"${MOTO[0]}" || { echo "moto did not start" >&2; exit 1; }
[[ "$ready" == "ready" ]] || { echo "unexpected moto output: $ready" >&2; exit 1; }
echo "moto listening on 127.0.0.1:$port"

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STACK=examples/quickstart.toml
STATE=(--state "$WORK/quickstart.json")

step "pgstack validate $STACK"
"$PGSTACK" validate "$STACK"

step "pgstack apply $STACK --auto-approve"
"$PGSTACK" apply "$STACK" "${STATE[@]}" --auto-approve

step "pgstack plan --detailed-exitcode (expect: no changes, exit 0)"
"$PGSTACK" plan "$STACK" "${STATE[@]}" --detailed-exitcode
echo "exit code: $?"

step "Changing the key description: plan shows an in-place update"
NEW=(--var 'key_description=quickstart: rotated description')
set +e
"$PGSTACK" plan "$STACK" "${STATE[@]}" "${NEW[@]}" --detailed-exitcode -o "$WORK/change.plan"
code=$?
set -e
echo "exit code: $code (2 = changes present)"
step "Applying exactly that saved plan"
"$PGSTACK" apply "$WORK/change.plan" "${STATE[@]}"

step "Someone disables key rotation outside pgstack"
KEY_ID="$("$PGSTACK" output "$STACK" "${STATE[@]}" kms_key_arn)"
"$VENV/bin/python" - "$KEY_ID" <<'PY'
import sys, boto3
boto3.client("kms", region_name="us-east-1").disable_key_rotation(KeyId=sys.argv[1])
print(f"disabled rotation on {sys.argv[1]}")
PY

step "pgstack drift (expect: drift reported, exit 2)"
set +e
"$PGSTACK" drift "$STACK" "${STATE[@]}" "${NEW[@]}"
code=$?
set -e
echo "exit code: $code"

step "pgstack apply repairs the drift"
"$PGSTACK" apply "$STACK" "${STATE[@]}" "${NEW[@]}" --auto-approve

step "pgstack destroy (the KMS key is data-bearing: it must be named)"
"$PGSTACK" destroy "$STACK" "${STATE[@]}" "${NEW[@]}" --auto-approve --allow-destroy kms_key.db

step "Done. The KMS key is scheduled for deletion; everything else is gone."
