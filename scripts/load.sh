#!/usr/bin/env bash
# Side-by-side load on tenured (tokio) and tenured-smol, on SQLite and on
# PostgreSQL: GET /pingLicenseManager, grants and renewals at concurrency 64,
# with wrk (Debian). Loopback only; each run is bounded by DURATION.
#   bash scripts/load.sh [DURATION_S]      (default 10)
# Environment: PRELOAD=N fills each database with N held grants first (the
# 1,000,000-grant run); FRONTENDS and BACKENDS narrow the matrix
# (default "tenured tenured-smol" and "sqlite postgres"); ANALYZE_EVERY=S
# (default 5) stands in for auto-analyze on a PostgreSQL with autovacuum
# off, 0 turns that off (as the runs before 2026-11-24 06:50 UTC);
# LOAD_BIN=DIR runs the binaries in DIR (tenured, tenured-smol, tenurectl,
# examples/hello) without building, to compare two builds.
# Prints a markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
CONC=64
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# A fresh machine lacks the MySQL client headers the build links against
# (and PostgreSQL may be stopped): the test setup installs and starts them.
bash .ci/setup-services.sh --services-only >/dev/null
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -n "${LOAD_BIN:-}" ]; then
  BIN="$LOAD_BIN"   # binaries built earlier (an A/B of two commits)
else
  cargo build --release -q -p tenure-tokio -p tenure-smol --bins
  cargo build --release -q -p tenure-tokio --example hello
  BIN="$TARGET/release"
fi
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN/tenurectl" keygen --secret-key "$WORK/vendor.key" --public-key "$WORK/vendor.pub" >/dev/null
"$BIN/tenurectl" issue --secret-key "$WORK/vendor.key" --license-id load --licensee "Load test" \
  --not-after 2099-01-01T00:00:00Z --max-managers 2 --limit production/vdp:unlimited \
  --out "$WORK/license.lic" >/dev/null
echo "load-test-admin-token-0123456789" > "$WORK/admin.token"
chmod 600 "$WORK/admin.token"   # serve refuses a token file open to others

wrk_rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
wrk_p99() { awk '$1=="99%" {print $2}' "$1"; }
wrk_errors() {
  local non2xx sock
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$1"); sock=$(awk '/Socket errors/ {print $0}' "$1")
  echo "${non2xx:-0}${sock:+ ($sock)}"
}

run() { # frontend backend database-url
  local fe="$1" be="$2" db="$3" port log
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log="$WORK/$fe-$be.log"
  if [ -n "${PRELOAD:-}" ]; then
    "$BIN/tenured" migrate --database "$db" >/dev/null 2>&1
    python3 scripts/load/preload.py "$db" "$PRELOAD"
  fi
  "$BIN/$fe" serve --listen "127.0.0.1:$port" --database "$db" --license "$WORK/license.lic" \
    --vendor-key "$WORK/vendor.pub" --admin-token-file "$WORK/admin.token" --node-id "$fe-$be" \
    --max-inflight 1024 --log-format json >"$WORK/$fe-$be.out" 2>"$log" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$WORK/$fe-$be.out" 2>/dev/null && break; sleep 0.1; done
  local url="http://127.0.0.1:$port" analyzer=""
  if [ "$be" = postgres ] && [ "${ANALYZE_EVERY:-5}" != 0 ] &&
    [ "$(psql -Atq "$db" -c 'SHOW autovacuum')" = off ]; then
    # Never analysed, the grants table's pool reads take the wrong index
    # (7 ms a read at 39,000 grants, against 0.03 ms once analysed).
    ( while sleep "${ANALYZE_EVERY:-5}"; do psql -q "$db" -c ANALYZE >/dev/null 2>&1 || true; done ) &
    analyzer=$!
  fi
  wrk -t2 -c$CONC -d"${DUR}s" --latency "$url/pingLicenseManager" >"$WORK/ping" 2>&1
  wrk -t2 -c$CONC -d"${DUR}s" --latency -s scripts/load/grant.lua "$url" >"$WORK/grant" 2>&1
  : >"$WORK/grants.txt"
  for i in $(seq 256); do
    curl -s -X POST "$url/v1/grants" -H 'Content-Type: application/json' \
      -d "{\"product\":\"vdp\",\"hostname\":\"renew-$i\",\"port\":1,\"cores\":1}" |
      python3 -c 'import sys,json; print(json.load(sys.stdin)["grant_id"])' >>"$WORK/grants.txt"
  done
  GRANTS="$WORK/grants.txt" wrk -t2 -c$CONC -d"${DUR}s" --latency -s scripts/load/renew.lua "$url" >"$WORK/renew" 2>&1
  local rss_load listed=""
  rss_load=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")
  if [ -n "${PRELOAD:-}" ]; then
    # The admin reads that list every held grant, each at its peak (VmHWM
    # only rises, so the paged read goes first): tenurectl following the
    # pages, then one unpaged GET.
    local t0 n
    t0=$(date +%s.%N)
    n=$("$BIN/tenurectl" grants --json --url "$url" --admin-token-file "$WORK/admin.token" | grep -c '"grant_id"')
    listed=" / tenurectl grants (pages of 10,000): $n grants in $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f')s, then $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")"
    listed="$listed / unpaged GET /v1/grants: $(curl -s -o /dev/null -w '%{http_code} %{size_download}B %{time_total}s' \
      -H "Authorization: Bearer $(cat "$WORK/admin.token")" "$url/v1/grants"), then $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")"
  fi
  kill -TERM "$pid"; wait "$pid" || true
  if [ -n "$analyzer" ]; then kill "$analyzer"; wait "$analyzer" 2>/dev/null || true; fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$fe" "$be" \
    "$(wrk_rps "$WORK/ping")" "$(wrk_p99 "$WORK/ping")" \
    "$(wrk_rps "$WORK/grant")" "$(wrk_p99 "$WORK/grant")" \
    "$(wrk_rps "$WORK/renew")" "$(wrk_p99 "$WORK/renew")" \
    "$(wrk_errors "$WORK/ping") / $(wrk_errors "$WORK/grant") / $(wrk_errors "$WORK/renew")" \
    "$rss_load$listed"
}

pg_db() {
  local name="tenure_load_$1_$$"
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $name" >/dev/null
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $name" >/dev/null
  echo "postgres://postgres@127.0.0.1:5432/$name"
}

reference_hello() {
  local port out
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN/examples/hello" "127.0.0.1:$port" >/dev/null &
  local pid=$!
  sleep 0.5
  wrk -t2 -c$CONC -d"${DUR}s" --latency "http://127.0.0.1:$port/" >"$WORK/hello" 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "| hyper hello-world (examples/hello.rs) | $(wrk_rps "$WORK/hello") req/s | p99 $(wrk_p99 "$WORK/hello") |"
}

reference_pgbench() {
  local db="tenure_pgbench_$$"
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
  psql -q -h 127.0.0.1 -U postgres -d "$db" -c \
    "CREATE TABLE leases (id int PRIMARY KEY, renewed bigint); INSERT INTO leases SELECT g, 0 FROM generate_series(1, 256) g" >/dev/null
  echo '\set id random(1, 256)
UPDATE leases SET renewed = renewed + 1 WHERE id = :id;' >"$WORK/update.sql"
  pgbench -h 127.0.0.1 -U postgres -n -c $CONC -j 2 -T "$DUR" -f "$WORK/update.sql" "$db" >"$WORK/pgbench" 2>&1 || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
  echo "| pgbench single-row UPDATE, $CONC clients (durable commits) | $(awk '/^tps/ {print $3; exit}' "$WORK/pgbench") tx/s | |"
}

echo "wrk -t2 -c$CONC -d${DUR}s, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), PostgreSQL autovacuum $(psql -Atq -h 127.0.0.1 -U postgres -c 'SHOW autovacuum'), ANALYZE every ${ANALYZE_EVERY:-5} s in its place when off (0: never)"
echo
echo "| reference | rate | latency |"
echo "|---|---|---|"
reference_hello
reference_pgbench
echo
echo
echo "${PRELOAD:+Each database preloaded with $PRELOAD held grants.}"
echo "| frontend | storage | ping req/s | ping p99 | grant req/s | grant p99 | renew req/s | renew p99 | non-2xx ping/grant/renew | server peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for fe in ${FRONTENDS:-tenured tenured-smol}; do
  for be in ${BACKENDS:-sqlite postgres}; do
    case "$be" in
      sqlite) run "$fe" sqlite "sqlite://$WORK/$fe.db" ;;
      postgres) run "$fe" postgres "$(pg_db "${fe//-/_}")" ;;
    esac
  done
done
