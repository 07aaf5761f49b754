#!/usr/bin/env bash
# Drift report for any CI: checks every stack given (files or directories of
# stack files) with `pgstack drift`, writes the Markdown report where the CI
# shows it, and exits as pgstack does:
#   0  no drift          2  drift or orphans found          1  an error
#
# Usage: examples/ci/drift.sh STACK_OR_DIR...
#
# Environment:
#   PGSTACK              the pgstack binary (default: pgstack on PATH)
#   PGSTACK_DRIFT_REPORT where the Markdown goes (default: $GITHUB_STEP_SUMMARY,
#                        else standard output)
#   PGSTACK_DRIFT_JSON   also write the JSON report to this file (a second,
#                        read-only run; unset: Markdown only)
#   PGSTACK_VAR_*        inputs of the stacks (e.g. PGSTACK_VAR_rotation_lambda_arn)
#   AWS_*                credentials of a read-only role (docs/drift.md lists
#                        the actions drift needs; it writes nothing, in AWS or state)
set -uo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 STACK_OR_DIR..." >&2
    exit 1
fi
pgstack="${PGSTACK:-pgstack}"
report="${PGSTACK_DRIFT_REPORT:-${GITHUB_STEP_SUMMARY:-/dev/stdout}}"

"$pgstack" drift "$@" --format markdown >> "$report"
code=$?
if [[ -n "${PGSTACK_DRIFT_JSON:-}" ]]; then
    "$pgstack" drift "$@" --format json > "$PGSTACK_DRIFT_JSON" || true
fi

case "$code" in
    0) echo "pgstack drift: no drift" >&2 ;;
    2) echo "pgstack drift: drift found (see the report)" >&2 ;;
    *) echo "pgstack drift: failed (exit $code); see the report" >&2 ;;
esac
exit "$code"
