#!/usr/bin/env bash
# Mutation testing with the simulator as the judge: cargo-mutants mutates the
# manager's decisions (core/src/manager/**) and the agent state machine
# (core/src/agent/**) of tenure-core, and each mutant is judged by the tests
# of tenure-sim only, not by core's own unit tests. A mutant the simulator
# does not catch is a behaviour the simulator cannot see: it is killed by a
# check in sim/tests/ or explained in docs/semantics.md ("Mutants that
# survive, and why"). Not part of CI's time budget.
#
#   scripts/mutants.sh [CARGO-MUTANTS ARGS...]
#
# Extra arguments go to cargo mutants, e.g. `--shard 1/4`, `--list`,
# `-F 'Agent::warn'` (only mutants whose name matches), `--iterate` (skip
# mutants caught in the previous run in the same output folder).
#
# Environment: MUTANTS_JOBS (parallel builds, default 1: every mutant
# rebuilds tenure-core, tenure-storage and tenure-sim, which alone keeps a
# core busy), MUTANTS_TIMEOUT (seconds per mutant's test run, default 120),
# MUTANTS_OUT (folder that receives mutants.out/, default
# target/mutants-report).
#
# Test selection: every test of tenure-sim (the named scenarios at the
# protocol's real settings, the planted-bug teeth, determinism, the 200-seed
# swarm, and the checks added to kill mutants it once missed), built with
# `--profile mutants` (Cargo.toml: the test profile at opt-level 1 without
# debug info). On the 2-core development machine the sim suite runs several
# times faster at opt-level 1 than in the dev profile, which outweighs the
# slower rebuild after a change in core, so the 200-seed swarm stays in (the
# 1,000-seed swarm of `tenure-sim swarm` is left to sim/bench.sh). The
# suite has grown with the simulator's checks: a mutant took 50 to 60 s on
# a machine busy with other builds. The timeout is several times
# the suite's time: a mutant that makes the sim loop (a zero backoff, a
# deadline that never comes) is reported as a timeout, a slow machine is not.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

jobs="${MUTANTS_JOBS:-1}"
timeout="${MUTANTS_TIMEOUT:-120}"
out="${MUTANTS_OUT:-$root/target/mutants-report}"

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "== installing cargo-mutants (crates.io)"
    cargo install --locked cargo-mutants
fi

# cargo-mutants' own baseline runs the mutated package's tests (tenure-core's),
# not --test-package's, so the unmutated sim suite is run here instead, in the
# same profile, and cargo-mutants skips its baseline (the timeout is set
# explicitly below, not derived from it).
case " $* " in
*" --list "* | *" --list-files "*) ;;
*)
    echo "== baseline: the sim's tests on the unmutated tree"
    CARGO_INCREMENTAL=0 cargo test --profile mutants --package tenure-sim --quiet
    ;;
esac

mkdir -p "$out"
echo "== cargo mutants over core/src/manager and core/src/agent, judged by tenure-sim's tests"
echo "   output: $out/mutants.out  jobs: $jobs  test timeout: ${timeout}s"
start=$(date +%s)
status=0
# --cap-lints: a mutant that only trips a lint (an unused variable) still
# runs. --copy-target false: the scratch copy builds its own target/ once
# instead of copying several GB of other profiles.
CARGO_INCREMENTAL="${MUTANTS_INCREMENTAL:-1}" cargo mutants \
    --package tenure-core \
    --file 'core/src/manager/**' \
    --file 'core/src/agent/**' \
    --test-package tenure-sim \
    --profile mutants \
    --cap-lints true \
    --copy-target false \
    --baseline skip \
    --timeout "$timeout" \
    --build-timeout 900 \
    --jobs "$jobs" \
    --output "$out" \
    "$@" || status=$?
end=$(date +%s)

dir="$out/mutants.out"
count() {
    if [ -f "$dir/$1.txt" ]; then
        wc -l <"$dir/$1.txt" | tr -d ' '
    else
        echo 0
    fi
}
# Only this run's outcomes (not an older run's, e.g. under --list).
if [ -n "$(find "$dir/outcomes.json" -newermt "@$start" 2>/dev/null)" ]; then
    echo "== $(count caught) caught, $(count missed) missed, $(count unviable) unviable, $(count timeout) timeout in $((end - start)) s"
    if [ -s "$dir/missed.txt" ]; then
        echo "== missed (the simulator did not notice):"
        cat "$dir/missed.txt"
    fi
    if [ -s "$dir/timeout.txt" ]; then
        echo "== timed out:"
        cat "$dir/timeout.txt"
    fi
fi
# cargo-mutants: 0 all caught, 2 some missed, 3 some timed out, 4 the
# unmutated tree fails its tests.
exit "$status"
