#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each one for SECONDS
# (default 30), one after the other. Fails when a target finds a crash (or a
# timeout, or runs out of memory), and prints each target's executions.
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment: CARGO_TARGET_DIR (where to build; default fuzz/target),
# FUZZ_TARGETS (space-separated subset; default all; only these are built),
# FUZZ_RUNS (stop each target after this many executions, or at SECONDS,
# whichever comes first; e.g. FUZZ_RUNS=10000000 as BENCHMARKS.md reports), FUZZ_LOG_DIR
# (keep each target's libFuzzer log there), FUZZ_SANITIZER
# (default none: the project forbids unsafe code, and without ASan each
# target runs about twice as many executions; set address to use ASan).
# libFuzzer needs nightly compiler flags; RUSTC_BOOTSTRAP=1 allows them on a
# stable toolchain.
set -euo pipefail

secs="${1:-30}"
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# A fresh machine lacks the MySQL client headers the fuzz crate links
# against (through tenure-storage): the test setup installs them.
bash .ci/setup-services.sh --services-only >/dev/null
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --locked
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
if [ -n "${FUZZ_TARGETS:-}" ]; then
    for t in "${targets[@]}"; do
        cargo fuzz build -s "$sanitizer" "$t"
    done
else
    cargo fuzz build -s "$sanitizer"
fi
runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then
    runs=(-runs="$FUZZ_RUNS")
fi

# New inputs go to a scratch corpus so the committed seeds stay small.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tenure-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "fuzz/corpus/$t"
    log="${FUZZ_LOG_DIR:-$scratch}/$t.log"
    mkdir -p "$(dirname "$log")"
    echo "== fuzzing $t for ${secs}s"
    set +e
    cargo fuzz run -s "$sanitizer" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" "${runs[@]}" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
        >"$log" 2>&1
    rc=$?
    set -e
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    took="$(sed -n 's/^stat::.*//; s/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    line="$t: ${execs:-?} executions in ${took:-?} s (${rate:-?}/s)"
    if [ "$rc" -ne 0 ]; then
        line="$line: FAILED (exit $rc)"
        failed+=("$t")
        echo "---- last lines of the $t log:"
        grep -v '^#[0-9]' "$log" | tail -n 40
        echo "---- reproducers: fuzz/artifacts/$t/"
    fi
    echo "$line"
    summary+=("$line")
done

echo "== summary"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz targets with findings: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${secs}s without a finding"
