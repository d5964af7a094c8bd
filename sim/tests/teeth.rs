//! The simulator has teeth: four known bugs, planted from the sim side only
//! (a store wrapper, a driver that feeds the agent wall-clock time, a manager
//! mode that commits a stale pool view, a driver whose monotonic reading
//! stops in suspend), are each caught within a bounded number of seeds; the
//! same plans without the bug pass.

use tenure_sim::scenario::teeth;

const MAX_SEEDS: u64 = 10;

fn seeds_to_catch(bug: u8, invariant: usize) -> u64 {
    for seed in 0..MAX_SEEDS {
        let report = tenure_sim::run(teeth(bug, seed, true), None);
        if report.verdicts.failed(invariant) {
            eprintln!(
                "bug {bug} caught as I{invariant} on seed {seed} ({} tries): {}",
                seed + 1,
                report.failure().unwrap_or_default()
            );
            return seed + 1;
        }
    }
    panic!("planted bug {bug} not caught as I{invariant} within {MAX_SEEDS} seeds");
}

fn clean(bug: u8) {
    for seed in 0..3 {
        let report = tenure_sim::run(teeth(bug, seed, false), None);
        assert!(
            report.passed(),
            "bug {bug} plan, seed {seed}, without the bug: {:?}",
            report.failure()
        );
    }
}

#[test]
fn reclaim_at_lease_ttl_is_caught_as_over_use_under_partition() {
    clean(1);
    assert!(seeds_to_catch(1, 1) <= MAX_SEEDS);
}

#[test]
fn grace_on_the_wall_clock_only_is_caught_under_a_backward_step() {
    clean(2);
    assert!(seeds_to_catch(2, 2) <= MAX_SEEDS);
}

#[test]
fn unserialised_grant_check_is_caught_as_over_use_in_split_brain() {
    clean(3);
    assert!(seeds_to_catch(3, 1) <= MAX_SEEDS);
}

#[test]
fn a_monotonic_clock_frozen_in_suspend_is_caught_after_a_backward_step() {
    clean(4);
    assert!(seeds_to_catch(4, 2) <= MAX_SEEDS);
}
