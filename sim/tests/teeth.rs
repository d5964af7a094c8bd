//! The simulator has teeth: known bugs, each planted at a seam the simulator
//! owns (a store wrapper, the agent's clock, the wire in front of the agent,
//! the identity a manager sees) so that the code under test is the real code,
//! are each caught as the invariant they break within a bounded number of
//! seeds; the same plans without the bug pass.

use tenure_sim::Bug;
use tenure_sim::scenario::teeth;

const MAX_SEEDS: u64 = 50;

fn seeds_to_catch(bug: Bug, invariant: usize) -> u64 {
    for seed in 0..MAX_SEEDS {
        let report = tenure_sim::run(teeth(bug, seed, true), None);
        if report.verdicts.failed(invariant) {
            eprintln!(
                "{bug:?} caught as I{invariant} on seed {seed} ({} tries): {}",
                seed + 1,
                report.failure().unwrap_or_default()
            );
            return seed + 1;
        }
    }
    panic!("planted bug {bug:?} not caught as I{invariant} within {MAX_SEEDS} seeds");
}

fn clean(bug: Bug) {
    for seed in 0..3 {
        let report = tenure_sim::run(teeth(bug, seed, false), None);
        assert!(
            report.passed(),
            "{bug:?} plan, seed {seed}, without the bug: {:?}",
            report.failure()
        );
    }
}

fn caught(bug: Bug, invariant: usize) {
    clean(bug);
    assert!(seeds_to_catch(bug, invariant) <= MAX_SEEDS);
}

/// For rules no invariant states alone (the license window): the plan's
/// own expectation catches the bug.
fn caught_by_expectation(bug: Bug) {
    clean(bug);
    let caught = (0..MAX_SEEDS).find_map(|seed| {
        let report = tenure_sim::run(teeth(bug, seed, true), None);
        report.verdicts.expectation.map(|e| (seed, e))
    });
    let (seed, why) =
        caught.unwrap_or_else(|| panic!("planted bug {bug:?} not caught within {MAX_SEEDS} seeds"));
    eprintln!("{bug:?} caught on seed {seed}: {why}");
}

#[test]
fn reclaim_at_lease_ttl_is_caught_as_over_use_under_partition() {
    caught(Bug::ReclaimAtLeaseTtl, 1);
}

#[test]
fn held_until_without_the_reclaim_margin_is_caught_as_over_use_on_slow_clocks() {
    caught(Bug::NoReclaimMargin, 1);
}

#[test]
fn grace_on_the_wall_clock_only_is_caught() {
    clean(Bug::WallClockGrace);
    // A backward step under a cut shows as a run past grace (I2), a forward
    // step while reachable as a false stop (I9): either is the bug.
    let mut tries = 0;
    for seed in 0..MAX_SEEDS {
        let report = tenure_sim::run(teeth(Bug::WallClockGrace, seed, true), None);
        tries += 1;
        if report.verdicts.failed(2) || report.verdicts.failed(9) {
            eprintln!(
                "WallClockGrace caught in {tries} tries: {:?}",
                report.failure()
            );
            return;
        }
    }
    panic!("WallClockGrace not caught within {MAX_SEEDS} seeds");
}

#[test]
fn unserialised_grant_check_is_caught_as_over_use_in_split_brain() {
    caught(Bug::UnserialisedGrant, 1);
}

#[test]
fn a_monotonic_clock_frozen_in_suspend_is_caught_after_a_backward_step() {
    caught(Bug::BareMonotonic, 2);
}

#[test]
fn an_agent_taking_a_longer_grace_than_the_license_is_caught_as_a_run_past_grace() {
    caught(Bug::LongAgentGrace, 2);
}

#[test]
fn an_agent_stopping_on_a_proxy_page_is_caught_as_a_false_stop() {
    caught(Bug::ProxyAnswerDecides, 9);
}

#[test]
fn a_manager_telling_twins_apart_is_caught_as_two_processes_on_one_identity() {
    caught(Bug::TwinsApart, 10);
}

#[test]
fn manager_processes_without_a_nonce_are_caught_as_two_serving_one_node_id() {
    caught(Bug::NoNonce, 7);
}

#[test]
fn grace_on_the_monotonic_clock_only_is_caught_after_a_vm_pause() {
    caught(Bug::MonotonicOnlyGrace, 2);
}

#[test]
fn storage_without_a_high_water_mark_is_caught_serving_an_expired_license_again() {
    caught_by_expectation(Bug::LostHighWater);
}
