#!/usr/bin/env bash
# The simulator's speed targets, as repeated timed runs of the
# release build: grace-expires with 1000 components over 7 days (< 2 s) and the
# 1,000-seed swarm (< 60 s). Prints every run and the median wall and user
# time. Not a test: nothing fails on a slow machine.
#
#   sim/bench.sh [RUNS]        (default 5; the swarm runs min(RUNS, 3) times)
#
# Set CARGO_TARGET_DIR as for any build; TENURE_SIM=path skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
if [[ -z "${TENURE_SIM:-}" ]]; then
    cargo build --release -q -p tenure-sim
    TENURE_SIM="${CARGO_TARGET_DIR:-target}/release/tenure-sim"
fi
echo "binary: $TENURE_SIM; $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

bench() {
    local name=$1 n=$2
    shift 2
    local walls=() users=()
    for _ in $(seq "$n"); do
        local out
        out=$( { /usr/bin/time -f "%e %U" "$@" >/dev/null; } 2>&1 | tail -1)
        walls+=("${out% *}")
        users+=("${out#* }")
        echo "  $name: ${out% *} s wall, ${out#* } s user"
    done
    echo "$name: median $(printf '%s\n' "${walls[@]}" | median) s wall, $(printf '%s\n' "${users[@]}" | median) s user over $n runs"
}

"$TENURE_SIM" run --scenario grace-expires --seed 1 --components 1000 --days 7 | head -1
bench "grace-expires 1000 components 7 days" "$runs" \
    "$TENURE_SIM" run --scenario grace-expires --seed 1 --components 1000 --days 7
swarm_runs=$((runs < 3 ? runs : 3))
bench "swarm 1000 seeds" "$swarm_runs" "$TENURE_SIM" swarm --seeds 1000
