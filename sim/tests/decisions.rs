//! Checks that pin the agent's and the manager's decisions where the named
//! scenarios leave them free: each one was written against a mutant of
//! `tenure-core` that every other sim test let through (scripts/mutants.sh,
//! docs/semantics.md "Mutants that survive, and why").

use tenure_sim::Report;
use tenure_sim::plan::{Expect, Fault, HOUR, MIN, Plan, SEC};

fn run(plan: Plan) -> Report {
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{}", report.summary());
    report
}

/// A2, I5: the backoff starts over after every success. A half-hour
/// outage of both managers first drives every component's backoff to its
/// cap; then the primary fails twelve times, and the balancer (checking
/// every 10 s) takes 30 to 40 s to see each failure, so some components'
/// renewals fail each time. Each failover must stay within the I5 bound:
/// an agent that kept counting failed rounds across successes would wait up
/// to `renew_every` (300 s) after the outage long over.
#[test]
fn the_backoff_starts_over_after_a_success() {
    for seed in 0..3 {
        let mut p = Plan::base("backoff-reset", seed, 10, 1);
        p.lb.inter_ms = 10 * SEC;
        p.measure_failover = true;
        // The backup first: with no backup up, this is no failover.
        p.at(10 * MIN, Fault::MgrCrash(1));
        p.at(10 * MIN, Fault::MgrCrash(0));
        p.at(40 * MIN, Fault::MgrRestart(0));
        p.at(40 * MIN, Fault::MgrRestart(1));
        for i in 0..12 {
            let t = HOUR + i * 90 * MIN;
            p.at(t, Fault::MgrCrash(0));
            p.at(t + 45 * MIN, Fault::MgrRestart(0));
        }
        p.expect = Expect::NoStops;
        let report = run(p);
        // The agent as it is: 28 to 45 s on these seeds.
        let gap = report.failover_gap_ms.expect("failovers were measured");
        let bound = report.failover_bound_ms.expect("a bound");
        assert!(gap <= bound, "seed {seed}: gap {gap} ms > bound {bound} ms");
    }
}

/// A2: a running component renews every `renew_every`, each delay drawn
/// within ±10 %, so over a fault-free day it renews `day / renew_every`
/// times less the start, within a renewal or two: not more often (a
/// narrower or lower draw), not less.
#[test]
fn renewals_come_every_renew_every_on_average() {
    for seed in 0..3 {
        let n = 10;
        let p = Plan::base("cadence", seed, n, 1);
        let (end, every) = (p.end_ms, p.renew_every_s * SEC);
        let report = run(p);
        assert_eq!(report.grants, n as u64, "one grant each, no re-grant");
        // Components start within the first minute; the renewal in flight
        // at the end may or may not have come back.
        let most = n as u64 * end / every;
        let least = n as u64 * (end - MIN) / every - 2 * n as u64;
        assert!(
            (least..=most).contains(&report.renewals),
            "seed {seed}: {} renewals, expected {least}..={most}",
            report.renewals
        );
    }
}

/// M1 on `max_total_cores`: a pool whose core limit is exactly four
/// servers' cores admits four servers, not three and not five; the others
/// hear `cores_exceeded` and stop, each time their supervisor restarts them.
#[test]
fn the_core_limit_admits_exactly_what_fits() {
    for seed in 0..3 {
        let mut p = Plan::base("core-limit", seed, 6, 1);
        p.max_servers = None;
        p.max_total_cores = Some(4 * u64::from(p.cores));
        p.restart_after_stop_ms = Some(10 * MIN);
        let report = run(p);
        assert_eq!(report.grants, 4, "seed {seed}:\n{}", report.summary());
        let refused = report.denials.get("cores_exceeded").copied().unwrap_or(0);
        let stopped = report
            .stops
            .get("denied_cores_exceeded")
            .copied()
            .unwrap_or(0);
        assert!(refused >= 2 * 100, "seed {seed}: {refused} refusals");
        assert_eq!(refused, stopped, "seed {seed}: every refusal stops");
    }
}

/// A1, A4: a first grant refused with 400 `bad_request` (here: zero cores,
/// which no manager accepts) stops the component at once, with that
/// reason: nothing on its side will change the request, so retrying would
/// only load the managers. Its supervisor's restarts are refused the same.
#[test]
fn a_first_grant_refused_as_a_bad_request_stops() {
    let n = 4;
    let mut p = Plan::base("bad-request", 1, n, 1);
    p.cores = 0;
    p.restart_after_stop_ms = Some(HOUR);
    let report = run(p);
    assert_eq!(report.grants, 0);
    let stops = report.stops.get("denied_bad_request").copied().unwrap_or(0);
    // One stop per start: the first within a minute, then one an hour
    // (plus up to 10 %) for the rest of the day.
    assert!(
        stops >= n as u64 * 20,
        "{stops} stops:\n{}",
        report.summary()
    );
    assert_eq!(report.stops.len(), 1, "{:?}", report.stops);
}
