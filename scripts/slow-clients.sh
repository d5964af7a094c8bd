#!/usr/bin/env bash
# Worst-case memory of tenured and tenured-smol with slow clients, at the
# default limits: as many connections as `--max-connections` allows, each
# holding all it may make the server buffer (scripts/load/slow_clients.py:
# an unfinished 32 KiB head, a 16 KiB body short of one byte, and on tenured
# HTTP/2 streams with full header lists and windows). Prints the server's
# peak resident memory (VmHWM) per client mix, as a table for BENCHMARKS.md.
#
#   bash scripts/slow-clients.sh [CONNECTIONS]   (default: the default
#                                                 --max-connections)
#
# Defaults are kept but for two settings the measurement needs: one test
# host opens every connection (`--max-connections-per-ip 0`), and the read
# and idle timeouts are raised so that every connection is held at once: a
# slow client from many addresses reaches that state within the default
# timeouts, one loopback client opening thousands might not. Loopback only,
# bounded: each mix holds its connections for HOLD seconds (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
HOLD="${HOLD:-5}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p tenure-tokio -p tenure-smol --bins
BIN="$TARGET/release"
DEFAULT_MAX=$("$BIN/tenured" serve --help | awk '/--max-connections </ {f = 1}
  f && match($0, /default: [0-9]+/) {print substr($0, RSTART + 9, RLENGTH - 9); exit}')
N="${1:-$DEFAULT_MAX}"
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((N + 200)) ]; then
  echo "slow-clients: the open-file limit $(ulimit -n) is below $N connections" >&2
  exit 1
fi

WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN/tenurectl" keygen --secret-key "$WORK/vendor.key" --public-key "$WORK/vendor.pub" >/dev/null
"$BIN/tenurectl" issue --secret-key "$WORK/vendor.key" --license-id slow --licensee "Slow clients" \
  --not-after 2099-01-01T00:00:00Z --max-managers 1 --limit production/vdp:unlimited \
  --out "$WORK/license.lic" >/dev/null
echo "slow-clients-admin-token-0123456789" >"$WORK/admin.token"
chmod 600 "$WORK/admin.token"

mib() { awk -v k="$2" '$1==k":" {printf "%.0f", $2/1024}' "/proc/$1/status"; }

run() { # binary mode [client args...]
  local bin="$1" mode="$2"
  shift 2
  local port out
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  out="$WORK/$bin-$mode.out"
  "$BIN/$bin" serve --listen "127.0.0.1:$port" --database "sqlite://$WORK/$bin-$mode.db" \
    --license "$WORK/license.lic" --vendor-key "$WORK/vendor.pub" \
    --admin-token-file "$WORK/admin.token" --node-id "$bin" \
    --max-connections-per-ip 0 --header-read-timeout 300s --body-read-timeout 300s \
    --idle-timeout 300s >"$out" 2>"$WORK/$bin-$mode.log" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.1; done
  local idle ready
  idle=$(mib "$pid" VmRSS)
  python3 scripts/load/slow_clients.py --addr "127.0.0.1:$port" --mode "$mode" \
    --connections "$N" --hold "$HOLD" "$@" >"$WORK/client" &
  local client=$!
  for _ in $(seq 600); do grep -q ready "$WORK/client" 2>/dev/null && break; sleep 0.1; done
  ready=$(awk '/ready/ {print $2}' "$WORK/client")
  sleep 1
  printf '| %s | %s | %s | %s MiB | %s MiB |\n' "$bin" "$mode $*" "${ready:-0}" "$idle" "$(mib "$pid" VmHWM)"
  wait "$client" || true
  kill "$pid" && wait "$pid" 2>/dev/null || true
}

echo "| server | clients | connections held | RSS idle | peak RSS (VmHWM) |"
echo "|---|---|---|---|---|"
run tenured h1-head
run tenured h1-body
run tenured h2 --streams "${H2_STREAMS:-8}" --head-bytes "${H2_HEAD:-32768}"
run tenured-smol h1-head
run tenured-smol h1-body
