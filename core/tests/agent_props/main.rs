//! The agent against a reference model of real time (docs/protocol.md I2, I3, I4,
//! I9, A4, A8, T2).
//!
//! Real time is the test's own clock; the host's monotonic clock equals it and
//! its wall clock is real time plus an offset the test steps back and forth.
//! The driver calls `handle_timeout` at every instant the agent asks for, in
//! order, and answers requests with random outcomes, decoded from the bytes a
//! manager or a proxy would send. The model (`tenure_testkit::models::agent`,
//! shared with the `agent` fuzz target) decides, from real and wall time
//! alone, whether the component may run, in which state, and which events
//! each call gives; the agent must agree after every call. It
//! also keeps the agent's rounds of managers (A6) and checks each send
//! against the backoff (A2) and T2's confirmation rounds: the next manager at
//! once, or after a failed round no sooner than the round's `Retry-After`
//! (clamped to the cap) and no later than that plus the full-jitter ceiling.
//! `wall.rs` holds the long-horizon properties.

mod wall;

use proptest::prelude::*;
use std::time::Duration;
use tenure_core::agent::{
    Agent, AgentConfig, Event, Overdue, Request, RequestId, Response, State, StopReason, Transmit,
    TransportError,
};
use tenure_core::wire::{GrantResponse, RawGrantRequest};
use tenure_core::{ErrorCode, GrantId, Now, UnixMillis};
use tenure_testkit::models::agent::{
    self as model, DAY_MS, Instant, Kind, MS, Mode, Model, Outcome, Phase, SEC, Sent, YEAR,
};

#[derive(Debug, Clone)]
enum Step {
    /// Let real time pass, waking the agent whenever it asked. With
    /// `until_transmit`, stop early at the first request sent, so the next step
    /// can answer it before it times out.
    Advance {
        ms: u64,
        until_transmit: bool,
    },
    WallJump {
        ms: i64,
    },
    /// Answer the newest unanswered request (which may already be stale).
    Answer(Outcome),
    /// Answer the oldest unanswered request: usually a stale one.
    AnswerOldest(Outcome),
    /// Hand in the last answer again.
    Duplicate,
    Stop,
}

/// Leases as managers give them, and now and then past A8's caps.
fn lease() -> impl Strategy<Value = Outcome> {
    let sane = (
        1u64..=600,
        1u64..=4,
        prop_oneof![3 => 0u64..=3_600, 2 => 0u64..=518_400],
    )
        .prop_map(|(renew_s, k, extra)| {
            let ttl_s = renew_s * k;
            Outcome::Granted {
                renew_s,
                ttl_s,
                grace_s: (ttl_s + extra).min(518_400),
            }
        });
    let wild = (
        0u64..=600,
        0u64..=20 * 365 * 86_400,
        0u64..=10 * 365 * 86_400,
    )
        .prop_map(|(renew_s, ttl_s, grace_s)| Outcome::Granted {
            renew_s,
            ttl_s,
            grace_s,
        });
    prop_oneof![6 => sane, 1 => wild]
}

/// Tenure error answers: each denial, each configuration code, and codes
/// under statuses Tenure never pairs them with.
fn tenure() -> impl Strategy<Value = Outcome> {
    use ErrorCode as C;
    let pairs = [
        (403, C::Revoked),
        (403, C::Replaced),
        (403, C::LicenseExpired),
        (403, C::EnvironmentNotLicensed),
        (403, C::ProductNotLicensed),
        (403, C::ServersExceeded),
        (403, C::CoresExceeded),
        (400, C::BadRequest),
        (401, C::Unauthorized),
        (403, C::Forbidden),
        (404, C::NotFound),
        (415, C::UnsupportedMediaType),
        (503, C::TooManyManagers),
        (503, C::LicenseNotYetValid),
        (502, C::Revoked),
        (429, C::Overloaded),
    ];
    prop::sample::select(pairs.to_vec()).prop_map(|(status, code)| Outcome::Tenure { status, code })
}

fn foreign() -> impl Strategy<Value = Outcome> {
    (
        prop::sample::select(vec![401u16, 403, 404, 407, 429, 500, 502, 503, 504]),
        0u8..4,
    )
        .prop_map(|(status, kind)| Outcome::Foreign { status, kind })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        30 => lease(),
        12 => Just(Outcome::Transport),
        8 => retry_after().prop_map(|retry_after_s| Outcome::Unavailable { retry_after_s }),
        3 => Just(Outcome::Tenure { status: 404, code: ErrorCode::UnknownGrant }),
        6 => foreign(),
        3 => tenure(),
    ]
}

/// Absent, what managers send (a few seconds), or anything a header can say.
fn retry_after() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        2 => Just(None),
        2 => (0u64..=10).prop_map(Some),
        1 => (0u64..=u64::from(u32::MAX)).prop_map(Some),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let advance = |max: u64| {
        (0u64..=max, any::<bool>())
            .prop_map(|(ms, until_transmit)| Step::Advance { ms, until_transmit })
    };
    let day = i64::try_from(DAY_MS).expect("fits");
    prop_oneof![
        10 => advance(20_000),
        6 => advance(900_000),
        2 => advance(6 * 3_600_000),
        1 => advance(3 * DAY_MS),
        2 => (-30 * day..=30 * day).prop_map(|ms| Step::WallJump { ms }),
        2 => (0..=10 * day).prop_map(|ms| Step::WallJump { ms }),
        1 => (0..=3650 * day).prop_map(|ms| Step::WallJump { ms }),
        1 => (-10_000i64..=10_000).prop_map(|ms| Step::WallJump { ms }),
        16 => outcome().prop_map(Step::Answer),
        1 => outcome().prop_map(Step::AnswerOldest),
        1 => Just(Step::Duplicate),
        1 => Just(Step::Stop),
    ]
}

fn grant_request() -> tenure_core::wire::GrantRequest {
    RawGrantRequest {
        product: Some("vdp".into()),
        hostname: Some("h1".into()),
        port: Some(9999),
        cores: Some(4),
        ..RawGrantRequest::default()
    }
    .validate()
    .expect("valid")
}

/// A manager's 201 or 200.
fn granted(grant: u8, renew_s: u64, ttl_s: u64, grace_s: u64) -> Result<Response, TransportError> {
    Ok(Response::Granted(GrantResponse {
        grant_id: GrantId::from_random([grant; 16]),
        lease_ttl_s: ttl_s,
        renew_every_s: renew_s,
        grace_period_s: grace_s,
        server_time_ms: 0,
        license_id: "L".into(),
        license_expires_in_s: 1,
    }))
}

const JSON: Option<&[u8]> = Some(b"application/json; charset=utf-8");

/// The answer as a driver would hand it in: decoded from a status, a
/// Content-Type and body bytes, as a manager or something in between sends
/// them.
fn response(outcome: &Outcome, grant: u8) -> Result<Response, TransportError> {
    let tenure = |status: u16, code: ErrorCode, retry_after: Option<u64>| {
        let body = format!(r#"{{"error":"{code}","message":"test"}}"#);
        Response::decode(
            status,
            JSON,
            retry_after.map(Duration::from_secs),
            body.as_bytes(),
        )
    };
    match *outcome {
        Outcome::Granted {
            renew_s,
            ttl_s,
            grace_s,
        } => granted(grant, renew_s, ttl_s, grace_s),
        Outcome::Transport => Err(TransportError::Connect),
        Outcome::Released => Ok(Response::Released),
        Outcome::Unavailable { retry_after_s } => {
            tenure(503, ErrorCode::StorageUnavailable, retry_after_s)
        }
        Outcome::Tenure { status, code } => tenure(status, code, None),
        Outcome::Foreign { status, kind } => {
            let (content_type, body): (Option<&[u8]>, &[u8]) = match kind {
                0 => (Some(b"text/html"), b"<html><h1>Forbidden</h1></html>"),
                1 => (Some(b"text/plain"), br#"{"error":"revoked"}"#),
                2 => (JSON, br#"{"error":"access_denied","message":"waf"}"#),
                _ => (None, br#"{"error":"replaced"}"#),
            };
            Response::decode(status, content_type, None, body)
        }
    }
}

fn to_now(i: Instant) -> Now {
    Now::new(Duration::from_nanos(i.real), UnixMillis(i.wall))
}

struct Harness {
    agent: Agent,
    now: Instant,
    model: Model,
    unanswered: Vec<Sent>,
    last_answer: Option<(RequestId, Outcome)>,
    /// (send time, grace as answered) of every success handed in.
    successes: Vec<(Instant, u64)>,
    events: Vec<Event>,
    ever_stopped: bool,
}

impl Harness {
    fn new(managers: usize, seed: u64) -> Self {
        let now = Instant {
            real: 5 * SEC,
            wall: 1_763_856_000_000,
        };
        let agent = Agent::new(
            AgentConfig::new(grant_request(), managers),
            to_now(now),
            seed,
        );
        let mut h = Self {
            agent,
            now,
            model: Model::new(managers, now),
            unanswered: Vec::new(),
            last_answer: None,
            successes: Vec::new(),
            events: Vec::new(),
            ever_stopped: false,
        };
        h.after_call();
        h
    }

    fn advance_real(&mut self, ns: u64) {
        self.now.real += ns;
        let before_ms = i64::try_from((self.now.real - ns) / MS).unwrap_or(0);
        let after_ms = i64::try_from(self.now.real / MS).unwrap_or(0);
        self.now.wall += after_ms - before_ms;
    }

    /// Collects output and checks it against the model, after every call.
    fn after_call(&mut self) {
        let stopped_before = self.ever_stopped;
        while let Some(t) = self.agent.poll_transmit() {
            self.on_transmit(t, stopped_before);
        }
        let new: Vec<Event> = std::iter::from_fn(|| self.agent.poll_event()).collect();
        let notable: Vec<Event> = new
            .iter()
            .copied()
            .filter(|e| !matches!(e, Event::GraceOneDayLeft | Event::GraceOneHourLeft))
            .collect();
        assert_eq!(
            notable, self.model.expected,
            "events of this call, at {:?}, model {:?}",
            self.now, self.model.phase
        );
        self.model.expected.clear();
        self.events.extend(new);
        self.check();
    }

    fn on_transmit(&mut self, t: Transmit, stopped_before: bool) {
        assert!(t.manager < 3, "{t:?}");
        let kind = match t.request {
            Request::Release { .. } => {
                assert!(!self.agent.is_running(), "a release only once stopped");
                return;
            }
            _ if stopped_before || matches!(self.agent.state(), State::Stopped(_)) => {
                panic!("only releases once stopped: {t:?}")
            }
            Request::Grant(_) => Kind::Grant,
            Request::Renew { .. } => Kind::Renew,
        };
        assert_eq!(Some(kind), self.model.next_kind(), "request kind");
        assert!(
            self.model.in_flight.is_none(),
            "one request at a time: {:?} then {t:?}",
            self.model.in_flight
        );
        let wait = self.model.next_send.take();
        let wait = wait.unwrap_or_else(|| {
            // Only a renewal may go unprompted by a failure: on its timer.
            assert!(
                matches!(
                    self.model.phase,
                    Phase::Running {
                        mode: Mode::Licensed | Mode::Grace,
                        ..
                    }
                ) && kind == Kind::Renew,
                "a request nothing asked for: {t:?} in {:?}",
                self.model.phase
            );
            model::NextSend {
                from: self.now,
                at_least: 0,
                at_most: 0,
            }
        });
        assert!(
            self.now.elapsed_since(wait.from) >= wait.at_least,
            "A2: sent before the round's Retry-After: {wait:?} at {:?}",
            self.now
        );
        assert!(
            u128::from(self.now.real - wait.from.real) <= wait.at_most,
            "A2/A6/T2: sent later than the backoff allows: {wait:?} at {:?}",
            self.now
        );
        let sent = Sent {
            id: t.id,
            at: self.now,
            kind,
        };
        self.model.in_flight = Some(sent);
        self.unanswered.push(sent);
    }

    fn check(&mut self) {
        let running = self.agent.is_running();
        // I3: never running without a granted grant request, never again once stopped.
        if running {
            assert!(self.model.granted_to_grant, "I3: running without a grant");
            assert!(!self.ever_stopped, "I3: running again after a stop");
        }
        if matches!(self.agent.state(), State::Stopped(_)) {
            self.ever_stopped = true;
        }
        // I2 and A8, without the model: some success handed in must still be
        // within its grace period, capped at a year, of real time since its send.
        if running {
            assert!(
                self.successes
                    .iter()
                    .any(|(at, grace)| u128::from(self.now.real - at.real)
                        < u128::from(*grace).min(YEAR)),
                "I2: running past every grace period at real {}",
                self.now.real
            );
        }
        self.check_model(running);
        self.check_events();
        if let Some(wait) = self.model.next_send
            && !self.model.stopped()
        {
            assert!(
                u128::from(self.now.real - wait.from.real) <= wait.at_most,
                "A2/A6: no request by the end of the backoff: {wait:?} at {:?}",
                self.now
            );
        }
    }

    fn check_model(&self, running: bool) {
        assert_eq!(
            running,
            self.model.running(),
            "agent {:?} vs model {:?}",
            self.agent.state(),
            self.model.phase
        );
        if let Phase::Stopped(reason) = self.model.phase {
            assert_eq!(self.agent.state(), &State::Stopped(reason));
        }
        let Phase::Running {
            since,
            ttl,
            grace,
            mode,
            ..
        } = self.model.phase
        else {
            return;
        };
        let (lease, agent_mode) = match self.agent.state() {
            State::Licensed { lease } => (lease, Mode::Licensed),
            State::Grace { lease, .. } => (lease, Mode::Grace),
            State::Confirming {
                lease,
                overdue: Overdue::Lease,
            } => (lease, Mode::ConfirmLease),
            State::Confirming {
                lease,
                overdue: Overdue::Grace { warned },
            } => (
                lease,
                Mode::ConfirmGrace {
                    told: warned.is_some(),
                },
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(agent_mode, mode, "agent {:?}", self.agent.state());
        assert_eq!(
            lease.since.mono,
            Duration::from_nanos(since.real),
            "T1: lease counts from send time"
        );
        // A8: the caps, as the model read the answer.
        assert_eq!(lease.lease_ttl.as_nanos(), ttl);
        assert_eq!(lease.grace_period.as_nanos(), grace);
        assert!(lease.grace_period.as_nanos() <= YEAR);
        // I2 with the model: zero tolerance at the current instant (the
        // monotonic clock is real time here).
        assert!(
            u128::from(self.now.real - since.real) < grace,
            "I2: running at or past the deadline"
        );
    }

    fn check_events(&self) {
        let stops = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::MustStop(_)))
            .count();
        assert!(stops <= 1, "MustStop at most once: {:?}", self.events);
        if stops == 1 {
            assert!(
                matches!(self.events.last(), Some(Event::MustStop(_))),
                "nothing after MustStop"
            );
        }
        let licence =
            |e: &&Event| !matches!(e, Event::ClockStepped { .. } | Event::Rejected { .. });
        if let Some(first) = self.events.iter().find(licence) {
            assert!(
                matches!(first, Event::Started { .. } | Event::MustStop(_)),
                "the first licence event is Started or MustStop: {first:?}"
            );
        }
        let started = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::Started { .. }))
            .count();
        assert!(started <= 1);
        if let State::Stopped(StopReason::Requested) = self.agent.state() {
            assert_eq!(stops, 0, "a requested stop emits no MustStop");
        }
    }

    fn call_timeout(&mut self) {
        self.agent.handle_timeout(to_now(self.now));
        self.model.on_call(self.now);
        self.model.expire_in_flight(self.now);
        self.after_call();
    }

    fn advance(&mut self, ms: u64, until_transmit: bool) {
        let mut target = self.now.real + ms * MS;
        while let Some(wake) = self.agent.poll_timeout() {
            let wake = u64::try_from(wake.as_nanos()).expect("fits");
            if wake > target {
                break;
            }
            self.advance_real(wake.saturating_sub(self.now.real));
            self.call_timeout();
            let next = self.agent.poll_timeout().map(|d| d.as_nanos());
            assert!(
                next.is_none_or(|n| n > u128::from(self.now.real)),
                "no progress: {next:?} at {}",
                self.now.real
            );
            if until_transmit
                && self
                    .unanswered
                    .last()
                    .is_some_and(|s| s.at.real == self.now.real)
            {
                target = self.now.real;
                break;
            }
        }
        self.advance_real(target - self.now.real);
        // No call here: the agent was not asked, yet I2 must hold already.
        self.check();
    }

    fn answer(&mut self, sent: Sent, outcome: Outcome) {
        self.unanswered.retain(|s| s.id != sent.id);
        let grant = u8::try_from(sent.id.0 % 200).unwrap_or(0);
        let result = response(&outcome, grant);
        let was_running = self.agent.is_running();
        if let Outcome::Granted { grace_s, .. } = outcome {
            self.successes.push((sent.at, grace_s.saturating_mul(SEC)));
        }
        self.agent
            .handle_response(to_now(self.now), sent.id, result);
        self.model.on_response(self.now, sent.id, &outcome, grant);
        self.last_answer = Some((sent.id, outcome.clone()));
        self.after_call();
        // (a) I9/A4: an answer without a Tenure body never stops a running
        // agent; only time can (by the monotonic clock, or a confirmation
        // round no manager answered), and the model says when.
        if was_running && !outcome.has_tenure_body() && !self.agent.is_running() {
            assert_eq!(
                self.agent.state(),
                &State::Stopped(StopReason::GraceExpired),
                "I9: stopped by {outcome:?}"
            );
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Advance { ms, until_transmit } => self.advance(ms, until_transmit),
            Step::WallJump { ms } => {
                self.now.wall += ms;
                self.check();
            }
            Step::Answer(outcome) => {
                if let Some(sent) = self.unanswered.last().copied() {
                    self.answer(sent, outcome);
                }
            }
            Step::AnswerOldest(outcome) => {
                if let Some(sent) = self.unanswered.first().copied() {
                    self.answer(sent, outcome);
                }
            }
            Step::Duplicate => {
                if let Some((id, outcome)) = self.last_answer.clone() {
                    let before = self.agent.state().lease().copied();
                    self.agent
                        .handle_response(to_now(self.now), id, response(&outcome, 0));
                    self.model.on_response(self.now, id, &outcome, 0);
                    self.after_call();
                    // A duplicate is ignored; only a deadline already due at
                    // this instant may move the state (a wall clock that
                    // jumped ahead can make the lease due). The lease itself
                    // never changes.
                    if self.agent.is_running() {
                        assert_eq!(
                            self.agent.state().lease().copied(),
                            before,
                            "a duplicate changes the lease"
                        );
                    }
                }
            }
            Step::Stop => {
                self.agent.stop(to_now(self.now));
                self.model.on_stop(self.now);
                self.after_call();
                assert_eq!(self.agent.poll_timeout(), None);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn agent_matches_the_real_time_model(
        managers in 1usize..=3,
        seed in any::<u64>(),
        steps in prop::collection::vec(step(), 1..100),
    ) {
        let mut h = Harness::new(managers, seed);
        for s in steps {
            h.step(s);
        }
    }
}
