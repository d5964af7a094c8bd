#!/usr/bin/env bash
# Renewal storm: a real `tenured serve` on 127.0.0.1, AGENTS grants made over
# HTTP, then every agent renews at the same instant and retries on 503 as the
# real agent state machine does (`tenure-storm`, tests-e2e/src/bin/tenure-storm).
#   bash scripts/storm.sh [sqlite|postgres]        (default sqlite)
# Environment: AGENTS (100000), CONNECTIONS (1024, client side), GRANT_CONC (64),
# SEED (8), REQUEST_TIMEOUT_S (10, the agent default), THREADS (1, the tool's runtime), MAX_SLEEP_S (60, see tenure-storm --help), MAX_INFLIGHT and GROUP_COMMIT (unset = tenured's defaults, 256 and
# 64), MAX_STORM_S (900, bound on the storm phase), PGURL (postgres://postgres@127.0.0.1:5432).
# PostgreSQL gets a fresh database, dropped afterwards; when the server has
# autovacuum off, the script runs ANALYZE every 5 s in its place.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:-sqlite}"
AGENTS="${AGENTS:-100000}"
# A fresh machine lacks the MySQL client headers the build links against
# (and PostgreSQL may be stopped): the test setup installs and starts them.
bash .ci/setup-services.sh --services-only >/dev/null
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p tenure-tokio -p tenure-e2e --bin tenured --bin tenurectl --bin tenure-storm
BIN="$TARGET/release"
WORK="$(mktemp -d)"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
PGDB=""
SERVER=""
ANALYZER=""
cleanup() {
  if [ -n "$ANALYZER" ]; then kill "$ANALYZER" 2>/dev/null || true; wait "$ANALYZER" 2>/dev/null || true; fi
  if [ -n "$SERVER" ]; then kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ -n "$PGDB" ]; then psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/tenurectl" keygen --secret-key "$WORK/vendor.key" --public-key "$WORK/vendor.pub" >/dev/null
"$BIN/tenurectl" issue --secret-key "$WORK/vendor.key" --license-id storm --licensee "Storm test" \
  --not-after 2099-01-01T00:00:00Z --limit production/vdp:unlimited --out "$WORK/license.lic" >/dev/null
echo "storm-test-admin-token-0123456789" >"$WORK/admin.token"
chmod 600 "$WORK/admin.token"   # serve refuses a token file open to others

case "$BACKEND" in
  sqlite) DB="sqlite://$WORK/storm.db" ;;
  postgres)
    PGDB="tenure_storm_$$"
    psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null
    psql -q "$PGURL/postgres" -c "CREATE DATABASE $PGDB" >/dev/null
    DB="$PGURL/$PGDB" ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EXTRA=()
[ -n "${MAX_INFLIGHT:-}" ] && EXTRA+=(--max-inflight "$MAX_INFLIGHT")
[ -n "${GROUP_COMMIT:-}" ] && EXTRA+=(--group-commit "$GROUP_COMMIT")
"$BIN/tenured" serve --listen "127.0.0.1:$PORT" --database "$DB" --migrate --license "$WORK/license.lic" \
  --vendor-key "$WORK/vendor.pub" --admin-token-file "$WORK/admin.token" --node-id "storm-$BACKEND" \
  --log-format json "${EXTRA[@]}" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 100); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$WORK/server.out" || { echo "tenured did not start:"; cat "$WORK/server.log"; exit 1; }
URL="http://127.0.0.1:$PORT"
if [ -n "$PGDB" ] && [ "$(psql -Atq "$DB" -c 'SHOW autovacuum')" = off ]; then
  # With autovacuum off the tables are never analysed, and the planner then
  # serves the instance lookup of every grant from the wrong index (a scan of
  # the whole pool). Stand in for autovacuum's auto-analyze.
  echo "PostgreSQL has autovacuum off: ANALYZE every 5 s in the background, as auto-analyze would"
  ( while sleep 5; do psql -q "$DB" -c ANALYZE >/dev/null 2>&1 || true; done ) &
  ANALYZER=$!
fi

machine() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg), CPU pressure $(awk '/^some/ {print $2, $3}' /proc/pressure/cpu 2>/dev/null)"; }
echo "tenured serve on $BACKEND, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $(machine)"
echo "server flags: ${EXTRA[*]:-(defaults: --max-inflight 256 --group-commit 64)}"
status=0
"$BIN/tenure-storm" --url "$URL" --agents "$AGENTS" --connections "${CONNECTIONS:-1024}" \
  --grant-concurrency "${GRANT_CONC:-64}" --seed "${SEED:-8}" --max-storm-s "${MAX_STORM_S:-900}" \
  --threads "${THREADS:-1}" --max-sleep-s "${MAX_SLEEP_S:-60}" --request-timeout-s "${REQUEST_TIMEOUT_S:-10}" \
  --server-pid "$SERVER" || status=$?

echo "after: $(machine)"
echo
echo "manager's own counters (GET /metrics):"
curl -s "$URL/metrics" | grep -E '^tenure_(renewals|grants|overloaded|storage_errors)_total|^tenure_requests_total\{route="renew"|^tenure_held_grants' || true
kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=""
echo "manager log lines by level: $(python3 -c '
import json, sys, collections
c = collections.Counter()
for line in open(sys.argv[1]):
    try: c[json.loads(line).get("level", "?")] += 1
    except ValueError: c["unparsed"] += 1
print(dict(c))' "$WORK/server.log")"
grep -E '"level":"(ERROR|WARN)"' "$WORK/server.log" | head -5 || true
exit "$status"
