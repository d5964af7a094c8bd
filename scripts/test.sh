#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts what the tests
# need (Debian packages, PostgreSQL, MariaDB), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/setup-services.sh
bash scripts/setup-schemathesis.sh
cargo deny --version >/dev/null 2>&1 || cargo install --locked cargo-deny

cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked
