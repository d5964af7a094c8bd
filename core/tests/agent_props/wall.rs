//! Long-horizon properties of T2 and A8, each with a driver of its own:
//! (b) a wall clock set forward, by any amount, never stops an agent that a
//! manager answers (I9); (c) grace never lasts longer than the answer's
//! grace, capped at a year, of monotonic time, whatever the wall clock does.

use super::{grant_request, granted};
use proptest::prelude::*;
use std::time::Duration;
use tenure_core::agent::{Agent, AgentConfig, Event, Request, Response, State, StopReason};
use tenure_core::{ErrorBody, ErrorCode, Now, UnixMillis};
use tenure_testkit::models::agent::{DAY_MS, MS, SEC, YEAR};

/// A host whose monotonic clock is real time and whose wall clock is real
/// time plus steps.
struct Host {
    mono: u64,
    wall: i64,
}

impl Host {
    fn now(&self) -> Now {
        Now::new(Duration::from_nanos(self.mono), UnixMillis(self.wall))
    }

    /// Sleeps until `at` (monotonic ns), the wall clock along with it.
    fn sleep_until(&mut self, at: u64) {
        let at = at.max(self.mono);
        self.wall += i64::try_from(at / MS - self.mono / MS).expect("fits");
        self.mono = at;
    }
}

/// Answers every request at once: managers before `answering` refuse the
/// connection, `answering` grants (after a 404 first, when `forgets`).
fn serve(
    agent: &mut Agent,
    host: &Host,
    answering: usize,
    forgets: &mut bool,
    lease: (u64, u64, u64),
) {
    let (renew_s, ttl_s, grace_s) = lease;
    while let Some(t) = agent.poll_transmit() {
        let result = if t.manager != answering {
            Err(tenure_core::agent::TransportError::Connect)
        } else if *forgets && matches!(t.request, Request::Renew { .. }) {
            *forgets = false;
            Ok(Response::Error {
                status: 404,
                body: Some(ErrorBody::new(ErrorCode::UnknownGrant, "forgot")),
                retry_after: None,
            })
        } else {
            granted(1, renew_s, ttl_s, grace_s)
        };
        agent.handle_response(host.now(), t.id, result);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (b) I9 and T2: only the wall clock moves ahead; a manager answers.
    #[test]
    fn a_wall_step_forward_never_stops_an_agent_a_manager_answers(
        managers in 1usize..=3,
        answering in 0usize..3,
        seed in any::<u64>(),
        renew_s in 1u64..=600,
        k in 2u64..=4,
        extra_s in 0u64..=518_400,
        steps in prop::collection::vec(
            (0i64..=3650 * i64::try_from(DAY_MS).expect("fits"), 0u64..=DAY_MS, any::<bool>()),
            1..30,
        ),
    ) {
        let answering = answering % managers;
        let lease = (renew_s, renew_s * k, renew_s * k + extra_s);
        let mut host = Host { mono: 5 * SEC, wall: 1_763_856_000_000 };
        let mut config = AgentConfig::new(grant_request(), managers);
        // The monotonic clock never stands still here: no wake-up is missed.
        config.max_sleep = Duration::from_secs(3_600);
        let mut agent = Agent::new(config, host.now(), seed);
        let mut forgets = false;
        serve(&mut agent, &host, answering, &mut forgets, lease);
        prop_assert!(agent.is_running());
        for (step_ms, advance_ms, forget) in steps {
            forgets = forget;
            host.wall += step_ms;
            agent.handle_timeout(host.now());
            serve(&mut agent, &host, answering, &mut forgets, lease);
            let end = host.mono + advance_ms * MS;
            while let Some(wake) = agent.poll_timeout() {
                let wake = u64::try_from(wake.as_nanos()).expect("fits");
                if wake > end {
                    break;
                }
                host.sleep_until(wake);
                agent.handle_timeout(host.now());
                serve(&mut agent, &host, answering, &mut forgets, lease);
                prop_assert!(agent.is_running(), "stopped: {:?}", agent.state());
            }
            host.sleep_until(end);
            prop_assert!(agent.is_running(), "stopped: {:?}", agent.state());
        }
        let stops: Vec<Event> = std::iter::from_fn(|| agent.poll_event())
            .filter(|e| matches!(e, Event::MustStop(_)))
            .collect();
        prop_assert!(stops.is_empty());
    }

    /// (c) I2 and A8: after one success and no answer again, the agent runs
    /// for less than min(answer's grace, one year) of monotonic time, and
    /// exactly that long when the wall clock only ever goes back.
    #[test]
    fn grace_never_outlasts_the_answer_capped_at_a_year(
        seed in any::<u64>(),
        renew_s in 86_400u64..=30 * 86_400,
        ttl_s in 1u64..=20 * 365 * 86_400,
        grace_s in prop_oneof![1u64..=400 * 86_400, 1u64..=10 * 365 * 86_400],
        jumps in prop::collection::vec(
            (-3650 * i64::try_from(DAY_MS).expect("fits")..=3650 * i64::try_from(DAY_MS).expect("fits"), 0u64..=1_000),
            0..8,
        ),
    ) {
        let mut host = Host { mono: 5 * SEC, wall: 1_763_856_000_000 };
        let mut config = AgentConfig::new(grant_request(), 1);
        config.max_sleep = Duration::from_secs(86_400);
        let mut agent = Agent::new(config, host.now(), seed);
        let sent = host.mono;
        let t = agent.poll_transmit().expect("a grant request");
        agent.handle_response(host.now(), t.id, granted(1, renew_s, ttl_s, grace_s));
        prop_assert!(agent.is_running());
        let limit = u128::from(grace_s * SEC).min(YEAR);
        let only_back = jumps.iter().all(|(ms, _)| *ms <= 0);
        // Each jump happens at a wake-up chosen by its index; no request is
        // ever answered (connection refused at once).
        let mut wakes = 0u64;
        let mut jumps = jumps.into_iter().peekable();
        while let Some(wake) = agent.poll_timeout() {
            host.sleep_until(u64::try_from(wake.as_nanos()).expect("fits"));
            if jumps.peek().is_some_and(|(_, at)| *at <= wakes) {
                let (ms, _) = jumps.next().expect("peeked");
                host.wall += ms;
            }
            agent.handle_timeout(host.now());
            while let Some(t) = agent.poll_transmit() {
                agent.handle_response(host.now(), t.id, Err(tenure_core::agent::TransportError::Connect));
            }
            if agent.is_running() {
                prop_assert!(u128::from(host.mono - sent) < limit, "ran {} s", (host.mono - sent) / SEC);
            }
            wakes += 1;
            prop_assert!(wakes < 1_000_000, "never stopped");
        }
        prop_assert_eq!(agent.state(), &State::Stopped(StopReason::GraceExpired));
        if only_back {
            prop_assert_eq!(u128::from(host.mono - sent), limit, "stopped at the capped deadline");
        }
    }
}
