#!/usr/bin/env bash
# Runs every test: unit tests, engine tests, and the integration tests that
# drive the real AWS SDK clients against a local moto server.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgstack-target}"
# The moto emulator the integration tests start and stop themselves.
export PGSTACK_MOTO_VENV="${PGSTACK_MOTO_VENV:-$HOME/.cache/pgstack-moto-venv}"
scripts/install-moto.sh >/dev/null

# Tests never reach a real AWS account or a developer's profile.
unset AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

# Library, binary and integration tests; benches are run by hand (docs/benchmarks.md).
# The integration tests wait on moto and on pgstack subprocesses more than
# they compute: four at a time, each on its own moto server (tests/it/support/moto.rs).
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --locked --lib --bins --tests "$@"
