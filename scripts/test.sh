#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts what the tests
# need (Debian packages, PostgreSQL, MariaDB), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# MySQL/MariaDB storage is a cargo feature (its client library is the
# system's); the suite covers it, so it is on here.
FEATURES=tenure-storage/mysql

bash .ci/setup-services.sh
bash scripts/setup-schemathesis.sh
cargo deny --version >/dev/null 2>&1 || cargo install --locked cargo-deny

cargo test --workspace --all-targets --locked --no-fail-fast --features "$FEATURES"
cargo test --workspace --doc --locked --features "$FEATURES"
# Release binaries without client libraries (ldd), and the Debian package.
bash scripts/package-test.sh
