#!/usr/bin/env bash
# The ping benchmark in one run: GET /pingLicenseManager on tenured and
# tenured-smol (`serve` on SQLite, as scripts/load.sh starts them) against the
# hyper hello-world (frontends/tokio/examples/hello.rs) and the smol + async-h1
# hello-world (frontends/smol/examples/hello-smol.rs, both of its modes), with
# wrk -t2 -c64 on loopback. Besides req/s it prints the server's CPU time per
# request (utime + stime from /proc over the wrk run), which moves less than
# req/s when the machine is shared.
#   bash scripts/ping-load.sh [DURATION_S] [ROUNDS]      (default 10, 1)
# SMOL_BEFORE=/path/to/tenured-smol adds a row for another tenured-smol build.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
ROUNDS="${2:-1}"
CONC=64
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# A fresh machine lacks the MySQL client headers the build links against
# (and PostgreSQL may be stopped): the test setup installs and starts them.
bash .ci/setup-services.sh --services-only >/dev/null
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p tenure-tokio -p tenure-smol --bins
cargo build --release -q -p tenure-tokio --example hello
cargo build --release -q -p tenure-smol --example hello-smol
BIN="$TARGET/release"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN/tenurectl" keygen --secret-key "$WORK/vendor.key" --public-key "$WORK/vendor.pub" >/dev/null
"$BIN/tenurectl" issue --secret-key "$WORK/vendor.key" --license-id load --licensee "Load test" \
  --not-after 2099-01-01T00:00:00Z --max-managers 2 --limit production/vdp:unlimited \
  --out "$WORK/license.lic" >/dev/null
echo "load-test-admin-token-0123456789" > "$WORK/admin.token"
chmod 600 "$WORK/admin.token"   # serve refuses a token file open to others

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # label pid url
  local label="$1" pid="$2" url="$3" c0 c1 n
  for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
  c0=$(cpu_ticks "$pid")
  wrk -t2 -c$CONC -d"${DUR}s" --latency "$url" >"$WORK/wrk" 2>&1
  c1=$(cpu_ticks "$pid")
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk")
  printf '| %s | %s | %s | %.1f | %s |\n' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk")" "$(awk '$1=="99%" {print $2}' "$WORK/wrk")" \
    "$(echo "($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)" \
    "$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk")$(awk '/Socket errors/' "$WORK/wrk")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

hello() { # label binary [mode]
  local port
  port=$(free_port)
  "$2" "127.0.0.1:$port" ${3:+"$3"} >/dev/null &
  measure "$1" $! "http://127.0.0.1:$port/"
}

ping() { # label binary
  local port name
  port=$(free_port)
  name="$(basename "$2")-$RANDOM"
  "$2" serve --listen "127.0.0.1:$port" --database "sqlite://$WORK/$name.db" --license "$WORK/license.lic" \
    --vendor-key "$WORK/vendor.pub" --admin-token-file "$WORK/admin.token" --node-id "$name" \
    --max-inflight 1024 --log-format json >"$WORK/$name.out" 2>"$WORK/$name.log" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  measure "$1" $pid "http://127.0.0.1:$port/pingLicenseManager"
}

echo "wrk -t2 -c$CONC -d${DUR}s, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| server | req/s | p99 | server CPU µs/req | non-2xx / socket errors |"
echo "|---|---|---|---|---|"
for _ in $(seq "$ROUNDS"); do
  hello "hyper hello-world (tokio examples/hello.rs)" "$BIN/examples/hello"
  hello "smol + async-h1 hello, async_h1::accept (smol examples/hello-smol.rs)" "$BIN/examples/hello-smol" accept
  hello "smol + async-h1 hello, own keep-alive loop (hello-smol.rs loop)" "$BIN/examples/hello-smol" loop
  ping "tenured ping (tokio, SQLite)" "$BIN/tenured"
  ping "tenured-smol ping (SQLite)" "$BIN/tenured-smol"
  if [ -n "${SMOL_BEFORE:-}" ]; then ping "tenured-smol ping, before (SQLite)" "$SMOL_BEFORE"; fi
done
