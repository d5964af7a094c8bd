//! Unit tests of the agent rules, each named after the rule it checks.

mod a4;
mod caps;
mod clock;
mod retry_after;

use super::*;
use crate::time::{Now, UnixMillis};
use crate::wire::{GrantResponse, RawGrantRequest};
use crate::{ErrorBody, ErrorCode, GrantId};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3_600);
const WALL0: i64 = 1_763_856_000_000;

fn request() -> crate::wire::GrantRequest {
    RawGrantRequest {
        product: Some("vdp".into()),
        hostname: Some("vdp1.example.com".into()),
        port: Some(9999),
        cores: Some(8),
        ..RawGrantRequest::default()
    }
    .validate()
    .expect("valid request")
}

/// A host whose clocks the test moves: mono and wall both from its start.
#[derive(Debug, Clone, Copy)]
struct Clock {
    mono: Duration,
    wall: i64,
}

impl Clock {
    fn new() -> Self {
        Self {
            mono: Duration::from_secs(1000),
            wall: WALL0,
        }
    }
    fn now(&self) -> Now {
        Now::new(self.mono, UnixMillis(self.wall))
    }
    fn advance(&mut self, d: Duration) {
        self.mono += d;
        self.wall += i64::try_from(d.as_millis()).expect("ms");
    }
    fn at_mono(&mut self, t: Duration) {
        assert!(t >= self.mono, "time goes forward");
        self.advance(t - self.mono);
    }
}

fn gid(n: u8) -> GrantId {
    GrantId::from_random([n; 16])
}

fn granted(n: u8, renew: u64, ttl: u64, grace: u64) -> Result<Response, TransportError> {
    Ok(Response::Granted(GrantResponse {
        grant_id: gid(n),
        lease_ttl_s: ttl,
        renew_every_s: renew,
        grace_period_s: grace,
        server_time_ms: 0,
        license_id: "L1".into(),
        license_expires_in_s: 1_000_000,
    }))
}

fn error(status: u16, code: Option<ErrorCode>) -> Result<Response, TransportError> {
    error_after(status, code, None)
}

/// A Tenure answer: `code` in an `application/json` body.
fn tenure(status: u16, code: ErrorCode) -> Result<Response, TransportError> {
    error(status, Some(code))
}

/// An answer from something in between (a proxy, WAF or captive portal):
/// decoded from the bytes it sends, an HTML page.
fn foreign(status: u16) -> Result<Response, TransportError> {
    Response::decode(
        status,
        Some(b"text/html; charset=utf-8"),
        None,
        b"<html><body><h1>Access denied</h1></body></html>",
    )
}

/// An error answer carrying `Retry-After` (as the driver decoded it).
fn error_after(
    status: u16,
    code: Option<ErrorCode>,
    retry_after: Option<Duration>,
) -> Result<Response, TransportError> {
    Ok(Response::Error {
        status,
        body: code.map(|c| ErrorBody::new(c, "test")),
        retry_after,
    })
}

/// Each denial code of A4 and the reason it stops with.
pub(super) const DENIALS: [(ErrorCode, StopReason); 5] = [
    (ErrorCode::Revoked, StopReason::Revoked),
    (ErrorCode::Replaced, StopReason::Replaced),
    (ErrorCode::LicenseExpired, StopReason::LicenseExpired),
    (
        ErrorCode::EnvironmentNotLicensed,
        StopReason::Denied {
            code: ErrorCode::EnvironmentNotLicensed,
        },
    ),
    (
        ErrorCode::ProductNotLicensed,
        StopReason::Denied {
            code: ErrorCode::ProductNotLicensed,
        },
    ),
];

struct Rig {
    agent: Agent,
    clock: Clock,
}

impl Rig {
    fn new(managers: usize, seed: u64) -> Self {
        Self::with(AgentConfig::new(request(), managers), seed)
    }
    fn with(config: AgentConfig, seed: u64) -> Self {
        let clock = Clock::new();
        Self {
            agent: Agent::new(config, clock.now(), seed),
            clock,
        }
    }
    fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.agent.poll_transmit()).collect()
    }
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.agent.poll_event()).collect()
    }
    fn one(&mut self) -> Transmit {
        let mut t = self.transmits();
        assert_eq!(t.len(), 1, "exactly one transmit expected: {t:?}");
        t.remove(0)
    }
    fn answer(&mut self, t: &Transmit, result: Result<Response, TransportError>) {
        self.agent.handle_response(self.clock.now(), t.id, result);
    }
    /// Sleeps until the agent's next wake-up and handles it.
    fn wake(&mut self) -> Duration {
        let t = self
            .agent
            .poll_timeout()
            .expect("a timeout while not stopped");
        self.clock.at_mono(t.max(self.clock.mono));
        self.agent.handle_timeout(self.clock.now());
        t
    }
    /// Wakes until a transmit appears; returns it and how long that took.
    fn wake_until_transmit(&mut self) -> (Transmit, Duration) {
        let start = self.clock.mono;
        for _ in 0..100_000 {
            self.wake();
            if let Some(t) = self.agent.poll_transmit() {
                return (t, self.clock.mono - start);
            }
        }
        panic!("no transmit");
    }
    /// Starts licensed with the given lease values; returns the granting transmit.
    fn licensed(&mut self, renew: u64, ttl: u64, grace: u64) -> Transmit {
        let t = self.one();
        self.answer(&t, granted(1, renew, ttl, grace));
        assert!(self.agent.is_running());
        assert_eq!(self.events(), vec![Event::Started { grant_id: gid(1) }]);
        t
    }
}

fn lease(agent: &Agent) -> Lease {
    match agent.state().lease() {
        Some(lease) => *lease,
        None => panic!("not running: {:?}", agent.state()),
    }
}

#[test]
fn a1_first_grant_is_queued_at_once_and_starts_only_on_success() {
    let mut rig = Rig::new(1, 1);
    assert_eq!(rig.agent.state(), &State::Starting);
    assert!(!rig.agent.is_running());
    assert_eq!(rig.agent.grant_id(), None);
    let t = rig.one();
    assert_eq!(t.manager, 0);
    let Request::Grant(body) = &t.request else {
        panic!("{t:?}")
    };
    assert_eq!(body.client_time_ms, Some(WALL0));
    assert_eq!(body.validate().map(|r| r.instance), Ok(request().instance));
    assert!(rig.events().is_empty());
    rig.clock.advance(S);
    rig.answer(&t, granted(1, 300, 900, 432_000));
    assert!(rig.agent.is_running());
    assert_eq!(rig.agent.grant_id(), Some(gid(1)));
    assert_eq!(rig.events(), vec![Event::Started { grant_id: gid(1) }]);
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
}

#[test]
fn a1_starting_retries_unreachable_forever_and_never_runs() {
    let mut rig = Rig::new(1, 2);
    let mut t = rig.one();
    let failures = [
        Err(TransportError::Connect),
        error(503, Some(ErrorCode::StorageUnavailable)),
        error(500, None),
        Err(TransportError::Malformed),
        error(429, None),
        Ok(Response::Released),
    ];
    for round in 0..60 {
        rig.answer(&t, failures[round % failures.len()].clone());
        assert_eq!(rig.agent.state(), &State::Starting);
        assert!(!rig.agent.is_running());
        let (next, waited) = rig.wake_until_transmit();
        assert!(
            waited <= Duration::from_secs(60),
            "start backoff is capped: {waited:?}"
        );
        assert!(matches!(next.request, Request::Grant(_)));
        t = next;
    }
    assert!(rig.events().is_empty());
}

#[test]
fn a2_renewal_comes_within_ten_percent_of_renew_every_from_send_time() {
    let mut offsets = Vec::new();
    for seed in 0..200 {
        let mut rig = Rig::new(1, seed);
        let t = rig.one();
        let sent = rig.clock.mono;
        rig.clock.advance(Duration::from_millis(700));
        rig.answer(&t, granted(1, 300, 900, 432_000));
        let (renew, _) = rig.wake_until_transmit();
        assert_eq!(
            renew.request,
            Request::Renew {
                grant_id: gid(1),
                client_time_ms: rig.clock.wall
            }
        );
        let offset = rig.clock.mono - sent;
        assert!(
            offset >= Duration::from_secs(270) && offset <= Duration::from_secs(330),
            "{offset:?}"
        );
        offsets.push(offset);
    }
    assert!(offsets.iter().any(|o| *o < Duration::from_secs(280)));
    assert!(offsets.iter().any(|o| *o > Duration::from_secs(320)));
}

#[test]
fn a2_failed_renewals_back_off_with_full_jitter_capped_at_renew_every() {
    let mut longest = Duration::ZERO;
    for seed in 0..40 {
        let mut rig = Rig::new(1, seed);
        rig.licensed(20, 10_000, 432_000);
        let (mut t, _) = rig.wake_until_transmit();
        for attempt in 0..12u32 {
            rig.answer(&t, error(503, None));
            let (next, waited) = rig.wake_until_transmit();
            let ceiling = (S * 2u32.pow(attempt)).min(Duration::from_secs(20));
            assert!(
                waited <= ceiling,
                "attempt {attempt}: {waited:?} > {ceiling:?}"
            );
            longest = longest.max(waited);
            assert!(rig.agent.is_running());
            t = next;
        }
        // A success resets the attempts: the next failure waits at most 1 s.
        rig.answer(&t, granted(1, 20, 10_000, 432_000));
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, Err(TransportError::Io));
        let (_, waited) = rig.wake_until_transmit();
        assert!(waited <= S, "{waited:?}");
    }
    assert!(
        longest > Duration::from_secs(15),
        "the cap is reached: {longest:?}"
    );
}

#[test]
fn a6_failure_moves_to_next_manager_at_once_then_backs_off_to_index_zero() {
    let mut rig = Rig::new(3, 5);
    let t0 = rig.one();
    assert_eq!(t0.manager, 0);
    rig.answer(&t0, Err(TransportError::Connect));
    let t1 = rig.one();
    assert_eq!(t1.manager, 1, "no wait before the next manager");
    rig.answer(&t1, error(503, None));
    let t2 = rig.one();
    assert_eq!(t2.manager, 2);
    rig.answer(&t2, Err(TransportError::Timeout));
    assert!(rig.transmits().is_empty(), "round over: back off");
    let (t3, waited) = rig.wake_until_transmit();
    assert!(waited <= S);
    assert_eq!(t3.manager, 0);
    rig.answer(&t3, Err(TransportError::Connect));
    let t4 = rig.one();
    assert_eq!(t4.manager, 1);
    rig.answer(&t4, granted(1, 300, 900, 432_000));
    assert!(rig.agent.is_running());
    // The manager that answered is asked first next time.
    let (renew, _) = rig.wake_until_transmit();
    assert_eq!(renew.manager, 1);
}

#[test]
fn request_timeout_counts_as_a_failure_and_late_answers_are_ignored() {
    let mut rig = Rig::new(2, 6);
    let t0 = rig.one();
    assert_eq!(
        rig.agent.poll_timeout(),
        Some(rig.clock.mono + Duration::from_secs(10))
    );
    let (t1, waited) = rig.wake_until_transmit();
    assert_eq!(waited, Duration::from_secs(10));
    assert_eq!(t1.manager, 1);
    rig.answer(&t0, granted(9, 300, 900, 432_000));
    assert_eq!(
        rig.agent.state(),
        &State::Starting,
        "a timed-out request's answer is stale"
    );
    rig.answer(&t1, granted(1, 300, 900, 432_000));
    assert_eq!(rig.agent.grant_id(), Some(gid(1)));
    rig.events();
    // Duplicates and unknown ids change nothing.
    let before = rig.agent.state().clone();
    rig.answer(&t1, error(403, Some(ErrorCode::Revoked)));
    rig.agent.handle_response(
        rig.clock.now(),
        RequestId(999),
        error(403, Some(ErrorCode::Revoked)),
    );
    assert_eq!(rig.agent.state(), &before);
    assert!(rig.events().is_empty());
}

/// Never answers anything; returns (event, mono offset from the grant's send time).
fn run_to_the_end(rig: &mut Rig, sent: Duration) -> Vec<(Event, Duration)> {
    let mut seen = Vec::new();
    for _ in 0..1_000_000 {
        if rig.agent.poll_timeout().is_none() {
            return seen;
        }
        rig.wake();
        rig.transmits();
        for e in rig.events() {
            seen.push((e, rig.clock.mono - sent));
        }
    }
    panic!("never stopped");
}

#[test]
fn a3_grace_events_in_order_and_stop_exactly_at_the_deadline() {
    let mut rig = Rig::new(2, 11);
    let t = rig.one();
    let sent = rig.clock.mono;
    rig.clock.advance(Duration::from_secs(3));
    rig.answer(&t, granted(1, 300, 900, 432_000));
    rig.events();
    let seen = run_to_the_end(&mut rig, sent);
    let grace = Duration::from_secs(432_000);
    assert_eq!(
        seen,
        vec![
            (
                Event::GraceEntered {
                    remaining: grace - Duration::from_secs(900)
                },
                Duration::from_secs(900)
            ),
            (Event::GraceOneDayLeft, grace - DAY),
            (Event::GraceOneHourLeft, grace - HOUR),
            (Event::MustStop(StopReason::GraceExpired), grace),
        ]
    );
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::GraceExpired));
}

#[test]
fn a3_short_grace_gives_no_day_warning_and_recovery_resets_the_episode() {
    let mut rig = Rig::new(1, 12);
    let t = rig.one();
    let sent = rig.clock.mono;
    rig.answer(&t, granted(1, 60, 120, 7_200));
    rig.events();
    // Fail every request until grace has begun and the hour warning was given.
    let mut events = Vec::new();
    while !events.contains(&Event::GraceOneHourLeft) {
        rig.wake();
        for t in rig.transmits() {
            rig.answer(&t, Err(TransportError::Connect));
        }
        events.extend(rig.events());
    }
    assert_eq!(
        events,
        vec![
            Event::GraceEntered {
                remaining: Duration::from_secs(7_080)
            },
            Event::GraceOneHourLeft
        ]
    );
    assert!(rig.clock.mono - sent >= HOUR);
    let (t, _) = rig.wake_until_transmit();
    rig.answer(&t, granted(1, 60, 120, 7_200));
    assert_eq!(rig.events(), vec![Event::Recovered { grant_id: gid(1) }]);
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
    let restart = rig.clock.mono;
    let seen = run_to_the_end(&mut rig, restart);
    let kinds: Vec<Event> = seen.iter().map(|(e, _)| *e).collect();
    assert_eq!(kinds.len(), 3, "{seen:?}");
    assert!(matches!(kinds[0], Event::GraceEntered { .. }));
    assert_eq!(
        kinds[1],
        Event::GraceOneHourLeft,
        "a new episode warns again"
    );
    assert_eq!(kinds[2], Event::MustStop(StopReason::GraceExpired));
}

#[test]
fn t1_lease_and_grace_count_from_send_time_not_arrival() {
    let mut rig = Rig::new(1, 13);
    let t = rig.one();
    let sent = rig.clock.mono;
    rig.clock.advance(Duration::from_secs(8));
    rig.answer(&t, granted(1, 300, 900, 1_000));
    assert_eq!(lease(&rig.agent).since.mono, sent);
    rig.events();
    let seen = run_to_the_end(&mut rig, sent);
    assert_eq!(
        seen[0],
        (
            Event::GraceEntered {
                remaining: Duration::from_secs(100)
            },
            Duration::from_secs(900)
        )
    );
    assert_eq!(
        seen.last(),
        Some(&(
            Event::MustStop(StopReason::GraceExpired),
            Duration::from_secs(1_000)
        ))
    );
}

#[test]
fn t1_server_time_decides_nothing() {
    let mut rig = Rig::new(1, 14);
    let t = rig.one();
    let Ok(Response::Granted(mut g)) = granted(1, 300, 900, 432_000) else {
        unreachable!()
    };
    g.server_time_ms = i64::MIN;
    rig.answer(&t, Ok(Response::Granted(g)));
    assert!(matches!(rig.agent.state(), State::Licensed { .. }));
}

#[test]
fn a1_an_answer_arriving_after_its_own_lease_does_not_start() {
    let mut rig = Rig::new(1, 15);
    let t = rig.one();
    rig.clock.advance(Duration::from_secs(5));
    rig.answer(&t, granted(1, 1, 5, 5));
    assert_eq!(
        rig.agent.state(),
        &State::Starting,
        "never start into grace"
    );
    assert!(rig.events().is_empty());
}

#[test]
fn poll_timeout_never_sleeps_longer_than_max_sleep() {
    let mut rig = Rig::new(1, 19);
    let t = rig.one();
    rig.answer(&t, granted(1, 86_400, 200_000, 432_000));
    for _ in 0..100 {
        let before = rig.clock.mono;
        let wake = rig.wake();
        assert!(wake > before && wake <= before + Duration::from_secs(60));
        for t in rig.transmits() {
            rig.answer(&t, granted(1, 86_400, 200_000, 432_000));
        }
    }
}

#[test]
fn a5_stop_releases_the_grant_and_never_runs_again() {
    let mut rig = Rig::new(2, 20);
    rig.licensed(300, 900, 432_000);
    let (renew, _) = rig.wake_until_transmit();
    rig.agent.stop(rig.clock.now());
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::Requested));
    assert!(!rig.agent.is_running());
    let release = rig.one();
    assert_eq!(release.request, Request::Release { grant_id: gid(1) });
    assert!(rig.events().is_empty(), "a requested stop emits nothing");
    assert_eq!(rig.agent.poll_timeout(), None);
    rig.answer(&renew, granted(1, 300, 900, 432_000));
    rig.answer(&release, Ok(Response::Released));
    rig.clock.advance(DAY);
    rig.agent.handle_timeout(rig.clock.now());
    rig.agent.stop(rig.clock.now());
    assert!(rig.transmits().is_empty());
    assert!(rig.events().is_empty());
    assert!(!rig.agent.is_running());
}

#[test]
fn a5_stop_while_starting_releases_a_grant_that_arrives_afterwards() {
    let mut rig = Rig::new(1, 21);
    let t = rig.one();
    rig.agent.stop(rig.clock.now());
    assert!(rig.transmits().is_empty(), "nothing held yet");
    rig.answer(&t, granted(4, 300, 900, 432_000));
    assert!(!rig.agent.is_running());
    assert_eq!(rig.one().request, Request::Release { grant_id: gid(4) });
    rig.answer(&t, granted(4, 300, 900, 432_000));
    assert!(rig.transmits().is_empty(), "released once");
    assert!(rig.events().is_empty());
}

#[test]
fn same_seed_same_behaviour_different_seeds_spread() {
    let trace = |seed: u64| {
        let mut rig = Rig::new(2, seed);
        let t = rig.one();
        rig.answer(&t, granted(1, 300, 900, 432_000));
        let mut out = Vec::new();
        for _ in 0..20 {
            let (t, _) = rig.wake_until_transmit();
            out.push((rig.clock.mono, t.manager));
            rig.answer(&t, Err(TransportError::Connect));
        }
        out
    };
    assert_eq!(trace(77), trace(77));
    assert_ne!(trace(77), trace(78));
}

#[test]
fn odd_configs_and_answers_do_not_panic() {
    let mut config = AgentConfig::new(request(), 0);
    config.request_timeout = Duration::ZERO;
    config.max_sleep = Duration::ZERO;
    config.initial_backoff = Duration::MAX;
    let mut rig = Rig::with(config, 22);
    let t = rig.one();
    assert_eq!(t.manager, 0);
    rig.answer(&t, granted(1, 0, u64::MAX, u64::MAX));
    assert!(rig.agent.is_running());
    for _ in 0..50 {
        let before = rig.clock.mono;
        let wake = rig.wake();
        assert!(wake > before, "always a later wake-up");
        for t in rig.transmits() {
            rig.answer(&t, error(503, None));
        }
    }
    // Clocks far out of range.
    rig.agent
        .handle_timeout(Now::new(Duration::MAX, UnixMillis(i64::MAX)));
    rig.agent
        .handle_timeout(Now::new(Duration::ZERO, UnixMillis(i64::MIN)));
    let _ = rig.agent.poll_timeout();
}
