//! T2: elapsed time is the larger of the monotonic and wall-clock terms, but
//! what only the wall clock says has run out is confirmed with a manager at
//! once; every step over `max_clock_skew` is reported.

use super::*;

const TWO_DAYS: u64 = 2 * 86_400;
const FIVE_DAYS: u64 = 432_000;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).expect("ms")
}

fn stepped(events: &[Event]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ClockStepped { step_ms } => Some(*step_ms),
            _ => None,
        })
        .collect()
}

/// Licensed with renew 300 s, lease 900 s and `grace` seconds; the wall
/// clock is then set forward by `step` while the agent sleeps.
fn stepped_forward(managers: usize, seed: u64, grace: u64, step: Duration) -> Rig {
    let mut rig = Rig::new(managers, seed);
    rig.licensed(300, 900, grace);
    rig.clock.advance(Duration::from_secs(10));
    rig.clock.wall += ms(step);
    rig.agent.handle_timeout(rig.clock.now());
    rig
}

#[test]
fn t2_three_day_wall_step_forward_with_a_reachable_manager_runs_on() {
    let step = 3 * DAY;
    let mut rig = stepped_forward(1, 40, TWO_DAYS, step);
    assert_eq!(
        rig.events(),
        vec![Event::ClockStepped { step_ms: ms(step) }]
    );
    assert!(
        rig.agent.is_running(),
        "not stopped by the wall clock alone"
    );
    assert!(matches!(
        rig.agent.state(),
        State::Confirming {
            overdue: Overdue::Grace { warned: None },
            ..
        }
    ));
    let renew = rig.one();
    assert!(matches!(renew.request, Request::Renew { grant_id, .. } if grant_id == gid(1)));
    rig.clock.advance(Duration::from_millis(40));
    rig.answer(&renew, granted(1, 300, 900, TWO_DAYS));
    assert_eq!(rig.events(), vec![Event::Renewed { grant_id: gid(1) }]);
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    assert_eq!(
        lease(&rig.agent).since.wall.0,
        rig.clock.wall - 40,
        "T1: the new lease counts from the confirming request"
    );
    // And it runs on, renewing as usual, for days.
    for _ in 0..1_000 {
        let (t, waited) = rig.wake_until_transmit();
        assert!(waited <= Duration::from_secs(330));
        rig.answer(&t, granted(1, 300, 900, TWO_DAYS));
        assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    }
    assert!(
        rig.events()
            .iter()
            .all(|e| matches!(e, Event::Renewed { .. }))
    );
}

#[test]
fn t2_three_day_wall_step_forward_with_no_manager_reachable_stops_after_one_round() {
    let mut rig = stepped_forward(2, 41, TWO_DAYS, 3 * DAY);
    rig.events();
    let start = rig.clock.mono;
    let first = rig.one();
    assert_eq!(first.manager, 0);
    rig.answer(&first, Err(TransportError::Connect));
    assert!(rig.agent.is_running());
    let second = rig.one();
    assert_eq!(second.manager, 1, "the next manager at once, no backoff");
    // The second never answers: its request timeout ends the round.
    let (t, _) = (rig.wake(), ());
    assert_eq!(t, start + Duration::from_secs(10));
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::GraceExpired));
    assert_eq!(
        rig.events(),
        vec![Event::MustStop(StopReason::GraceExpired)]
    );
    assert!(rig.transmits().is_empty());
    let bound = AgentConfig::new(request(), 2).confirmation_bound();
    assert!(rig.clock.mono - start <= bound);
}

#[test]
fn t2_a_denial_during_the_round_stops_with_its_reason() {
    let mut rig = stepped_forward(1, 42, TWO_DAYS, 3 * DAY);
    rig.events();
    let renew = rig.one();
    rig.answer(&renew, tenure(403, ErrorCode::Revoked));
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::Revoked));
}

#[test]
fn t2_three_day_monotonic_step_stops_at_once() {
    let mut rig = Rig::new(1, 43);
    rig.licensed(300, 900, TWO_DAYS);
    // Suspended for three days: both clocks moved (the monotonic reading
    // counts suspend), so this is no wall step.
    rig.clock.advance(3 * DAY);
    rig.agent.handle_timeout(rig.clock.now());
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::GraceExpired));
    assert_eq!(
        rig.events(),
        vec![Event::MustStop(StopReason::GraceExpired)]
    );
    assert!(rig.transmits().is_empty(), "nothing to confirm");
}

#[test]
fn t2_wall_step_past_the_lease_only_renews_at_once_then_enters_grace_if_unanswered() {
    let step = 3 * DAY;
    // Reachable: runs on, never in grace.
    let mut rig = stepped_forward(1, 44, FIVE_DAYS, step);
    assert!(matches!(
        rig.agent.state(),
        State::Confirming {
            overdue: Overdue::Lease,
            ..
        }
    ));
    let renew = rig.one();
    rig.answer(&renew, granted(1, 300, 900, FIVE_DAYS));
    assert_eq!(
        rig.events(),
        vec![
            Event::ClockStepped { step_ms: ms(step) },
            Event::Renewed { grant_id: gid(1) }
        ]
    );
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    // Unreachable: one round, then grace as usual with what T2 leaves.
    let mut rig = stepped_forward(1, 45, FIVE_DAYS, step);
    rig.events();
    let renew = rig.one();
    rig.answer(&renew, Err(TransportError::Connect));
    let elapsed = lease(&rig.agent).elapsed(&rig.clock.now());
    assert_eq!(
        rig.events(),
        vec![Event::GraceEntered {
            remaining: Duration::from_secs(FIVE_DAYS) - elapsed
        }]
    );
    assert!(matches!(rig.agent.state(), State::Grace { .. }));
    assert!(rig.transmits().is_empty(), "backoff as usual");
    let (retry, waited) = rig.wake_until_transmit();
    assert!(waited <= S);
    rig.answer(&retry, granted(1, 300, 900, FIVE_DAYS));
    assert_eq!(rig.events(), vec![Event::Recovered { grant_id: gid(1) }]);
}

#[test]
fn t2_grace_over_by_the_wall_during_grace_confirms_and_recovers() {
    let mut rig = Rig::new(1, 46);
    rig.licensed(300, 900, TWO_DAYS);
    while !matches!(rig.agent.state(), State::Grace { .. }) {
        rig.wake();
        for t in rig.transmits() {
            rig.answer(&t, Err(TransportError::Connect));
        }
    }
    rig.events();
    // A backoff wait is pending; the step cuts it short.
    rig.clock.wall += ms(2 * DAY);
    rig.agent.handle_timeout(rig.clock.now());
    assert!(matches!(
        rig.agent.state(),
        State::Confirming {
            overdue: Overdue::Grace {
                warned: Some(GraceWarning::Nothing)
            },
            ..
        }
    ));
    let t = rig.one();
    rig.answer(&t, granted(1, 300, 900, TWO_DAYS));
    assert_eq!(
        rig.events(),
        vec![
            Event::ClockStepped {
                step_ms: ms(2 * DAY)
            },
            Event::Recovered { grant_id: gid(1) }
        ]
    );
}

#[test]
fn t2_a_request_in_flight_at_the_step_is_the_rounds_first_attempt() {
    let mut rig = Rig::new(1, 47);
    rig.licensed(300, 900, TWO_DAYS);
    let (renew, _) = rig.wake_until_transmit();
    // The step comes while the renewal is in flight: no second request, and
    // the step does not time the request out.
    rig.clock.wall += ms(3 * DAY);
    rig.agent.handle_timeout(rig.clock.now());
    assert!(rig.transmits().is_empty());
    assert!(rig.agent.poll_timeout() > Some(rig.clock.mono));
    // Its success counts, though the wall clock says its own lease is over
    // (it was sent before the step): T1 from its send, confirmed at once.
    rig.clock.advance(Duration::from_millis(30));
    rig.answer(&renew, granted(1, 300, 900, TWO_DAYS));
    assert!(rig.agent.is_running());
    let again = rig.one();
    assert!(matches!(again.request, Request::Renew { .. }));
    rig.answer(&again, granted(1, 300, 900, TWO_DAYS));
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    let renewals = rig
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Renewed { .. }))
        .count();
    assert_eq!(renewals, 2);
    assert!(rig.transmits().is_empty());
}

#[test]
fn t2_unknown_grant_in_a_grace_round_regrants_from_the_same_manager() {
    let mut rig = stepped_forward(2, 48, TWO_DAYS, 3 * DAY);
    rig.events();
    let renew = rig.one();
    rig.answer(&renew, tenure(404, ErrorCode::UnknownGrant));
    let regrant = rig.one();
    assert_eq!(regrant.manager, renew.manager, "the manager that answered");
    assert!(matches!(regrant.request, Request::Grant(_)));
    rig.answer(&regrant, granted(2, 300, 900, TWO_DAYS));
    assert_eq!(rig.events(), vec![Event::Regranted { grant_id: gid(2) }]);
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    // The pool refusing the re-grant (another holds the slot now) stops.
    let mut rig = stepped_forward(2, 49, TWO_DAYS, 3 * DAY);
    rig.events();
    let renew = rig.one();
    rig.answer(&renew, tenure(404, ErrorCode::UnknownGrant));
    let regrant = rig.one();
    rig.answer(&regrant, tenure(403, ErrorCode::ServersExceeded));
    let reason = StopReason::Denied {
        code: ErrorCode::ServersExceeded,
    };
    assert_eq!(rig.agent.state(), &State::Stopped(reason));
    // Unanswered after the 404, every manager once more, then the stop:
    // within the bound (each manager once, plus the one re-grant).
    let mut rig = stepped_forward(2, 50, TWO_DAYS, 3 * DAY);
    rig.events();
    let start = rig.clock.mono;
    let renew = rig.one();
    rig.answer(&renew, tenure(404, ErrorCode::UnknownGrant));
    while rig.agent.is_running() {
        rig.wake();
        rig.transmits();
    }
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::GraceExpired));
    let bound = AgentConfig::new(request(), 2).confirmation_bound();
    assert_eq!(bound, Duration::from_secs(30));
    assert!(rig.clock.mono - start <= bound);
}

#[test]
fn t2_wall_set_back_during_a_round_cancels_the_confirmation() {
    let mut rig = stepped_forward(1, 51, TWO_DAYS, 3 * DAY);
    rig.events();
    let renew = rig.one();
    rig.clock.wall -= ms(3 * DAY);
    rig.agent.handle_timeout(rig.clock.now());
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    // The failing round is an ordinary one now: backoff, no stop, no grace.
    rig.answer(&renew, Err(TransportError::Connect));
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    assert!(rig.transmits().is_empty());
}

#[test]
fn t2_monotonic_clock_stood_still_through_a_pause_confirms_within_the_bound() {
    for reachable in [true, false] {
        let mut rig = Rig::new(3, 52);
        rig.licensed(300, 900, FIVE_DAYS);
        // A paused VM: the wall clock ran six days, the monotonic one did not.
        rig.clock.wall += ms(6 * DAY);
        rig.agent.handle_timeout(rig.clock.now());
        let resumed = rig.clock.mono;
        let mut managers = Vec::new();
        while rig.agent.is_running() && rig.clock.mono - resumed < DAY {
            for t in rig.transmits() {
                managers.push(t.manager);
                if reachable && t.manager == 2 {
                    rig.answer(&t, granted(1, 300, 900, FIVE_DAYS));
                } else if t.manager == 0 {
                    rig.answer(&t, Err(TransportError::Connect));
                }
            }
            if reachable && matches!(rig.agent.state(), State::Licensed { .. }) {
                break;
            }
            rig.wake();
        }
        assert_eq!(managers, vec![0, 1, 2], "each manager once");
        let bound = AgentConfig::new(request(), 3).confirmation_bound();
        assert!(rig.clock.mono - resumed <= bound);
        if reachable {
            assert!(matches!(rig.agent.state(), State::Licensed { .. }));
        } else {
            assert_eq!(rig.agent.state(), &State::Stopped(StopReason::GraceExpired));
        }
    }
}

#[test]
fn t2_wall_clock_set_back_ten_days_is_reported_and_does_not_extend_grace() {
    let mut rig = Rig::new(1, 16);
    let t = rig.one();
    let sent = rig.clock.mono;
    rig.answer(&t, granted(1, 300, 900, FIVE_DAYS));
    rig.events();
    rig.clock.advance(DAY);
    rig.agent.handle_timeout(rig.clock.now());
    rig.events();
    rig.clock.wall -= 10 * 86_400_000;
    rig.agent.handle_timeout(rig.clock.now());
    assert_eq!(stepped(&rig.events()), vec![-10 * 86_400_000]);
    let seen = run_to_the_end(&mut rig, sent);
    assert_eq!(
        seen.last(),
        Some(&(
            Event::MustStop(StopReason::GraceExpired),
            Duration::from_secs(FIVE_DAYS)
        ))
    );
    assert!(stepped(&seen.iter().map(|(e, _)| *e).collect::<Vec<_>>()).is_empty());
}

#[test]
fn t2_steps_over_max_clock_skew_are_reported_either_way_and_small_ones_not() {
    let mut rig = Rig::new(1, 53);
    rig.licensed(300, 900, FIVE_DAYS);
    for (delta, want) in [
        (5_000, None),
        (-5_000, None),
        (5_001, Some(5_001)),
        (-5_001, Some(-5_001)),
        (-60_000, Some(-60_000)),
    ] {
        rig.clock.advance(S);
        rig.clock.wall += delta;
        rig.agent.handle_timeout(rig.clock.now());
        assert_eq!(stepped(&rig.events()), want.into_iter().collect::<Vec<_>>());
    }
    // Reported on answers too, and measured against the monotonic clock: a
    // suspend counted by both clocks is no step.
    let (t, _) = rig.wake_until_transmit();
    rig.events();
    rig.clock.advance(HOUR);
    rig.answer(&t, granted(1, 300, 900, FIVE_DAYS));
    assert!(stepped(&rig.events()).is_empty());
    // The threshold is a setting.
    let mut config = AgentConfig::new(request(), 1);
    config.max_clock_skew = Duration::from_secs(60);
    assert_eq!(
        AgentConfig::new(request(), 1).max_clock_skew,
        Duration::from_secs(5)
    );
    let mut rig = Rig::with(config, 54);
    rig.licensed(300, 900, FIVE_DAYS);
    rig.clock.wall += 30_000;
    rig.agent.handle_timeout(rig.clock.now());
    assert!(stepped(&rig.events()).is_empty());
    // Nothing is reported once stopped.
    rig.agent.stop(rig.clock.now());
    rig.clock.wall += 3_600_000;
    rig.agent.handle_timeout(rig.clock.now());
    assert!(rig.events().is_empty());
}

#[test]
fn t2_a_wall_step_while_starting_is_reported_and_no_stale_lease_starts() {
    let mut rig = Rig::new(1, 55);
    let t = rig.one();
    // The answer comes after a step: by the wall clock its lease is over.
    rig.clock.wall += ms(HOUR);
    rig.answer(&t, granted(1, 300, 900, FIVE_DAYS));
    assert_eq!(rig.agent.state(), &State::Starting, "A1: never start on it");
    assert_eq!(stepped(&rig.events()), vec![ms(HOUR)]);
    let (t, _) = rig.wake_until_transmit();
    rig.answer(&t, granted(1, 300, 900, FIVE_DAYS));
    assert_eq!(rig.events(), vec![Event::Started { grant_id: gid(1) }]);
}

#[test]
fn confirmation_bound_is_each_manager_plus_one_regrant() {
    let mut config = AgentConfig::new(request(), 3);
    assert_eq!(config.confirmation_bound(), Duration::from_secs(40));
    config.managers = 0;
    assert_eq!(config.confirmation_bound(), Duration::from_secs(20));
    config.request_timeout = Duration::ZERO;
    assert_eq!(config.confirmation_bound(), Duration::from_millis(2));
    config.request_timeout = Duration::MAX;
    assert_eq!(config.confirmation_bound(), Duration::MAX);
}
