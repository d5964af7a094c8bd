#!/usr/bin/env bash
# Installs schemathesis (PyPI) into .venv-schemathesis for the OpenAPI test.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.32.5
VENV=.venv-schemathesis
if [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
"$VENV/bin/schemathesis" --version
