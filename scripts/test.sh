#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts what the tests
# need (Debian packages, PostgreSQL, MariaDB), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/setup-services.sh
bash scripts/setup-schemathesis.sh

cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked
