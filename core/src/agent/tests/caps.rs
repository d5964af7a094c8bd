//! A8: the agent caps what any answer can give it, and caps rather than
//! refuses: grace at most one year, the lease at most the grace, renewals
//! at least a second apart.

use super::*;

const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// Wakes once a day at most, so a year of grace costs a few hundred calls.
fn rig(seed: u64) -> Rig {
    let mut config = AgentConfig::new(request(), 1);
    config.max_sleep = DAY;
    Rig::with(config, seed)
}

#[test]
fn a8_answers_over_the_caps_are_capped_not_refused() {
    let mut rig = Rig::new(1, 30);
    let t = rig.one();
    rig.answer(&t, granted(1, 0, 20 * 365 * 86_400, 10 * 365 * 86_400));
    assert!(rig.agent.is_running(), "capped, still licensed");
    let l = lease(&rig.agent);
    assert_eq!(l.grace_period, YEAR);
    assert_eq!(MAX_GRACE_PERIOD, YEAR);
    assert_eq!(l.lease_ttl, YEAR, "the lease is at most the grace");
    assert_eq!(l.renew_every, S, "at least 1 s");
    // A lease longer than a grace under the cap is cut to that grace.
    let mut rig = Rig::new(1, 31);
    let t = rig.one();
    rig.answer(&t, granted(1, 30, 5_000, 600));
    let l = lease(&rig.agent);
    assert_eq!(
        (l.lease_ttl, l.grace_period),
        (Duration::from_secs(600), Duration::from_secs(600))
    );
    // Within the caps nothing changes.
    let mut rig = Rig::new(1, 32);
    let t = rig.one();
    rig.answer(&t, granted(1, 300, 900, 432_000));
    let l = lease(&rig.agent);
    assert_eq!(
        (l.renew_every, l.lease_ttl, l.grace_period),
        (
            Duration::from_secs(300),
            Duration::from_secs(900),
            Duration::from_secs(432_000)
        )
    );
}

#[test]
fn a8_a_ten_year_grace_runs_in_grace_for_one_year_at_most() {
    let mut rig = rig(33);
    let t = rig.one();
    let sent = rig.clock.mono;
    rig.answer(&t, granted(1, 300, 900, 10 * 365 * 86_400));
    rig.events();
    let seen = run_to_the_end(&mut rig, sent);
    assert_eq!(
        seen.first(),
        Some(&(
            Event::GraceEntered {
                remaining: YEAR - Duration::from_secs(900)
            },
            Duration::from_secs(900)
        ))
    );
    assert_eq!(
        seen.last(),
        Some(&(Event::MustStop(StopReason::GraceExpired), YEAR)),
        "stopped one year after the last success"
    );
}

#[test]
fn a8_a_ten_year_lease_still_stops_after_one_year() {
    let mut rig = rig(34);
    let t = rig.one();
    let sent = rig.clock.mono;
    rig.answer(&t, granted(1, 300, 10 * 365 * 86_400, 10 * 365 * 86_400));
    rig.events();
    let seen = run_to_the_end(&mut rig, sent);
    // Lease and grace both end at the cap: no grace to enter, only the stop.
    assert_eq!(
        seen.last(),
        Some(&(Event::MustStop(StopReason::GraceExpired), YEAR))
    );
}

#[test]
fn a8_a_zero_renew_every_renews_once_a_second_not_in_a_loop() {
    let mut rig = Rig::new(1, 35);
    let t = rig.one();
    rig.answer(&t, granted(1, 0, 900, 432_000));
    rig.events();
    let (_, waited) = rig.wake_until_transmit();
    assert!(
        waited >= Duration::from_millis(900) && waited <= Duration::from_millis(1_100),
        "{waited:?}"
    );
}
