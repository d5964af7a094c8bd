//! A2 with `Retry-After`: the wait after a failed round is the round's largest
//! `Retry-After`, clamped to the backoff cap, plus full jitter.

use super::*;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn unavailable_after(n: u64) -> Result<Response, TransportError> {
    error_after(503, Some(ErrorCode::Overloaded), Some(secs(n)))
}

/// The wait before the next request after `result` ends a round, starting.
fn first_wait(seed: u64, result: Result<Response, TransportError>) -> Duration {
    let mut rig = Rig::new(1, seed);
    let t = rig.one();
    rig.answer(&t, result);
    assert!(rig.transmits().is_empty(), "a round of one: back off");
    rig.wake_until_transmit().1
}

#[test]
fn a2_retry_after_comes_first_then_the_jitter_on_top() {
    for seed in 0..100 {
        // Starting, first failed round: the jitter ceiling is 1 s.
        let waited = first_wait(seed, unavailable_after(5));
        assert!(waited >= secs(5) && waited <= secs(6), "{waited:?}");
    }
    // Running, fourth failed round in a row: the ceiling has grown to 8 s.
    for seed in 0..40 {
        let mut rig = Rig::new(1, seed);
        rig.licensed(300, 900, 432_000);
        let (mut t, _) = rig.wake_until_transmit();
        for _ in 0..3 {
            rig.answer(&t, error(503, None));
            t = rig.wake_until_transmit().0;
        }
        rig.answer(&t, unavailable_after(5));
        let (_, waited) = rig.wake_until_transmit();
        assert!(waited >= secs(5) && waited <= secs(13), "{waited:?}");
        assert!(rig.agent.is_running());
    }
}

#[test]
fn a2_a_fleet_told_the_same_retry_after_spreads_over_the_jitter_window() {
    let waits: Vec<Duration> = (0..200)
        .map(|seed| first_wait(seed, unavailable_after(5)))
        .collect();
    let distinct: std::collections::BTreeSet<Duration> = waits.iter().copied().collect();
    assert!(distinct.len() > 190, "{} distinct instants", distinct.len());
    let early = waits.iter().filter(|w| **w < Duration::from_millis(5_250));
    let late = waits.iter().filter(|w| **w > Duration::from_millis(5_750));
    assert!(early.count() > 20, "{waits:?}");
    assert!(late.count() > 20, "{waits:?}");
}

#[test]
fn a2_any_answer_judged_unreachable_may_ask_for_a_pause() {
    for answer in [
        error_after(429, None, Some(secs(5))),
        error_after(502, None, Some(secs(5))),
        error_after(500, Some(ErrorCode::StorageUnavailable), Some(secs(5))),
    ] {
        let waited = first_wait(1, answer);
        assert!(waited >= secs(5) && waited <= secs(6), "{waited:?}");
    }
    // No header, or one the driver could not read: the plain full jitter.
    assert!(first_wait(1, error_after(503, None, None)) <= secs(1));
    // A 404 on renew re-grants at once whatever it says: a manager answered.
    let mut rig = Rig::new(1, 2);
    rig.licensed(300, 900, 432_000);
    let (t, _) = rig.wake_until_transmit();
    rig.answer(
        &t,
        error_after(404, Some(ErrorCode::UnknownGrant), Some(secs(60))),
    );
    assert!(matches!(rig.one().request, Request::Grant(_)));
}

#[test]
fn a2_retry_after_is_clamped_to_the_backoff_cap() {
    // Starting: the cap is max_start_backoff (60 s).
    for seed in 0..20 {
        let waited = first_wait(seed, unavailable_after(86_400));
        assert!(waited >= secs(60) && waited <= secs(61), "{waited:?}");
    }
    let mut config = AgentConfig::new(request(), 1);
    config.max_start_backoff = secs(7);
    let mut rig = Rig::with(config, 3);
    let t = rig.one();
    rig.answer(&t, unavailable_after(u64::from(u32::MAX)));
    let (_, waited) = rig.wake_until_transmit();
    assert!(waited >= secs(7) && waited <= secs(8), "{waited:?}");
    // Running: the cap is renew_every (20 s).
    for seed in 0..20 {
        let mut rig = Rig::new(1, seed);
        rig.licensed(20, 10_000, 432_000);
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, unavailable_after(3_600));
        let (_, waited) = rig.wake_until_transmit();
        assert!(waited >= secs(20) && waited <= secs(21), "{waited:?}");
    }
}

#[test]
fn a3_a_retry_after_never_delays_grace_or_the_stop() {
    let mut rig = Rig::new(1, 4);
    let granted_at = rig.clock.mono;
    rig.licensed(20, 25, 30);
    let (t, _) = rig.wake_until_transmit();
    // Asked to come back in at least 20 s: past the lease (25 s) and the
    // grace deadline (30 s), both of which still come on time.
    rig.answer(&t, unavailable_after(3_600));
    let mut seen = Vec::new();
    while !matches!(rig.agent.state(), State::Stopped(_)) {
        rig.wake();
        assert!(rig.transmits().is_empty(), "no retry before the stop");
        seen.extend(rig.events().into_iter().map(|e| (e, rig.clock.mono)));
    }
    assert_eq!(
        seen,
        vec![
            (
                Event::GraceEntered { remaining: secs(5) },
                granted_at + secs(25)
            ),
            (
                Event::MustStop(StopReason::GraceExpired),
                granted_at + secs(30)
            ),
        ]
    );
}

#[test]
fn a6_a_retry_after_does_not_hold_back_the_next_manager() {
    let mut rig = Rig::new(3, 5);
    let t0 = rig.one();
    rig.answer(&t0, unavailable_after(30));
    let t1 = rig.one();
    assert_eq!(t1.manager, 1, "the next manager at once");
    rig.answer(&t1, unavailable_after(2));
    let t2 = rig.one();
    assert_eq!(t2.manager, 2);
    rig.answer(&t2, Err(TransportError::Connect));
    assert!(rig.transmits().is_empty(), "round over: back off");
    // The largest pause any manager of the round asked for.
    let (t3, waited) = rig.wake_until_transmit();
    assert_eq!(t3.manager, 0);
    assert!(waited >= secs(30) && waited <= secs(31), "{waited:?}");
}

#[test]
fn a2_a_retry_after_is_forgotten_when_a_round_starts_or_a_success_comes() {
    for seed in 0..20 {
        let mut rig = Rig::new(1, seed);
        let t = rig.one();
        rig.answer(&t, unavailable_after(30));
        let (t, waited) = rig.wake_until_transmit();
        assert!(waited >= secs(30), "{waited:?}");
        // The next round heard no Retry-After: jitter alone (ceiling 2 s).
        rig.answer(&t, error(503, None));
        let (t, waited) = rig.wake_until_transmit();
        assert!(waited <= secs(2), "{waited:?}");
        rig.answer(&t, granted(1, 300, 900, 432_000));
        assert!(rig.agent.is_running());
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, Err(TransportError::Io));
        let (_, waited) = rig.wake_until_transmit();
        assert!(waited <= secs(1), "{waited:?}");
    }
    // A success between two managers' answers forgets the first one's pause.
    let mut rig = Rig::new(2, 6);
    let t = rig.one();
    rig.answer(&t, unavailable_after(30));
    let t = rig.one();
    rig.answer(&t, granted(1, 300, 900, 432_000));
    let (t, _) = rig.wake_until_transmit();
    assert_eq!(t.manager, 1, "stays with the one that answered");
    rig.answer(&t, Err(TransportError::Connect));
    let t = rig.one();
    rig.answer(&t, Err(TransportError::Connect));
    let (_, waited) = rig.wake_until_transmit();
    assert!(waited <= secs(1), "{waited:?}");
}
