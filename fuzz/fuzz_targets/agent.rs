//! The component agent fed arbitrary sequences of answers (grants with any
//! durations, every status with or without a Tenure body, under any
//! Content-Type, with any `Retry-After`, transport failures, stale and
//! duplicate answers), real-time advances and wall-clock jumps.
//!
//! Mirrors core/tests/agent_props and shares its reference model
//! (`tenure_testkit::models::agent`): real time is the harness's clock, the host's
//! monotonic clock equals it and the wall clock is real time plus an offset
//! that jumps. The driver wakes the agent at every instant it asks for, up
//! to `MAX_WAKES` per execution; after that it calls late, once per advance.
//! Asserts after every call: I3 never running before a Granted answer to a
//! Grant request, never running again once stopped; I2 never running when the
//! real time since the send of its last success (the agent's lease) reaches
//! that answer's grace period capped at a year (A8), and some success handed
//! in still covers now; T1 the lease counts from the send time; one request
//! in flight, and only releases once stopped; the events of each call, the
//! state (licensed, grace, confirming, stopped and why) and the lease agree
//! with a reference model of docs/protocol.md section 5 and T2; I9 an answer
//! without a Tenure body never stops a running agent but by time.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use tenure_core::agent::{
    Agent, AgentConfig, Event, Overdue, Request, RequestId, State, StopReason, Transmit,
};
use tenure_core::wire::RawGrantRequest;
use tenure_core::{Now, UnixMillis};
#[path = "agent/answer.rs"]
mod answer;

/// Bounds the real time one input may cover, so one execution stays short
/// (the agent wakes at least every 60 s).
pub const MAX_REAL: u64 = 8 * 86_400 * SEC;
/// Bounds the wake-ups driven one by one per execution, so one execution
/// stays short: a request left unanswered times out after 10 s and is retried
/// within the backoff ceiling, so days without answers cost tens of thousands
/// of wake-ups (about 4 ms an execution on average before this bound). Past
/// it the harness is a late driver: one `handle_timeout` at the end of each
/// advance, which the agent must handle as well (everything due is done at
/// once; grace deadlines still stop it). The first 1,000 wake-ups cover
/// hundreds of request, timeout and backoff rounds (backoff reaches its
/// ceiling after 6).
pub const MAX_WAKES: u32 = 1_000;

use answer::{Answer, read, response};
use tenure_testkit::models::agent::{
    Instant, Kind, MS, Mode, Model, Outcome, Phase, SEC, Sent, YEAR, secs,
};

#[derive(Debug, Clone, Arbitrary)]
enum Step {
    Advance { ms: u16, until_transmit: bool },
    AdvanceLong { s: u16, until_transmit: bool },
    WallJump { ms: i32 },
    WallJumpLong { s: i32 },
    Answer(Answer),
    AnswerOldest(Answer),
    Duplicate,
    Stop,
}

struct Harness {
    agent: Agent,
    now: Instant,
    model: Model,
    unanswered: Vec<Sent>,
    /// The last answer handed in, and how the model read it.
    last_answer: Option<(RequestId, Answer, Outcome)>,
    /// (send time, grace capped at a year) of every success handed in.
    successes: Vec<(Instant, u128)>,
    events: Vec<Event>,
    ever_stopped: bool,
    managers: usize,
    /// Wake-ups driven at the instant the agent asked for, this execution.
    wakes: u32,
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

fn to_now(i: Instant) -> Now {
    Now::new(Duration::from_nanos(i.real), UnixMillis(i.wall))
}

impl Harness {
    fn new(managers: usize, seed: u64, sleep_min: u8) -> Self {
        let now = Instant {
            real: 5 * SEC,
            wall: 1_763_856_000_000,
        };
        let mut config = AgentConfig::new(grant_request(), managers);
        // Longer sleeps than the default 60 s keep long advances cheap; the
        // harness's monotonic clock never stops, so none is missed.
        config.max_sleep = Duration::from_secs(60 * (1 + u64::from(sleep_min % 60)));
        let agent = Agent::new(config, to_now(now), seed);
        let mut h = Self {
            agent,
            now,
            model: Model::new(managers, now),
            unanswered: Vec::new(),
            last_answer: None,
            successes: Vec::new(),
            events: Vec::new(),
            ever_stopped: false,
            managers,
            wakes: 0,
        };
        h.after_call();
        h
    }

    fn advance_real(&mut self, ns: u64) {
        let before_ms = i64::try_from(self.now.real / MS).unwrap_or(0);
        self.now.real += ns;
        let after_ms = i64::try_from(self.now.real / MS).unwrap_or(0);
        self.now.wall = self.now.wall.saturating_add(after_ms - before_ms);
    }

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
            "events of this call, model {:?}",
            self.model.phase
        );
        self.model.expected.clear();
        self.events.extend(new);
        self.check();
    }

    fn on_transmit(&mut self, t: Transmit, stopped_before: bool) {
        assert!(t.manager < self.managers.max(1), "{t:?}");
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
        assert!(self.model.in_flight.is_none(), "one request at a time");
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
        if running {
            assert!(
                self.model.granted_to_grant,
                "I3: running without a granted grant request"
            );
            assert!(!self.ever_stopped, "I3: running again after a stop");
            assert!(
                self.successes
                    .iter()
                    .any(|(at, grace)| u128::from(self.now.real - at.real) < *grace),
                "I2: running past every grace period at real {}",
                self.now.real
            );
            // I2 on the agent's own last success: its lease.
            let lease = *self.agent.state().lease().expect("running has a lease");
            let since = u64::try_from(lease.since.mono.as_nanos()).expect("fits");
            let grace = lease.grace_period.as_nanos();
            assert!(grace <= YEAR, "A8: grace over a year");
            assert!(
                lease.lease_ttl <= lease.grace_period,
                "A8: lease over grace"
            );
            assert!(lease.renew_every >= Duration::from_secs(1), "A8");
            assert!(
                self.successes
                    .iter()
                    .any(|(at, g)| at.real == since && *g == grace),
                "T1: the lease is not a success handed in, sent at {since}"
            );
            assert!(
                u128::from(self.now.real - since) < grace,
                "I2: running at or past the lease's grace"
            );
        }
        if matches!(self.agent.state(), State::Stopped(_)) {
            self.ever_stopped = true;
        }
        self.check_model(running);
        self.check_events();
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
        assert_eq!(lease.since.mono, Duration::from_nanos(since.real), "T1");
        assert_eq!(lease.lease_ttl.as_nanos(), ttl, "A8 lease");
        assert_eq!(lease.grace_period.as_nanos(), grace, "A8 grace");
        assert!(u128::from(self.now.real - since.real) < grace, "I2 (model)");
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

    fn advance(&mut self, ns: u64, until_transmit: bool) {
        let ns = ns.min(MAX_REAL.saturating_sub(self.now.real));
        let mut target = self.now.real + ns;
        let mut next = self.agent.poll_timeout();
        while let Some(wake) = next {
            let wake = u64::try_from(wake.as_nanos()).expect("fits");
            if wake > target {
                break;
            }
            if self.wakes >= MAX_WAKES {
                // Out of punctual wake-ups: a late driver. One call at the
                // target does everything due by then (the agent must handle
                // a call at any instant after the one it asked for).
                self.advance_real(target - self.now.real);
                self.call_timeout();
                assert!(
                    self.agent
                        .poll_timeout()
                        .is_none_or(|n| n.as_nanos() > u128::from(self.now.real)),
                    "no progress after a late call at {}",
                    self.now.real
                );
                return;
            }
            self.wakes += 1;
            self.advance_real(wake.saturating_sub(self.now.real));
            self.call_timeout();
            // One poll per wake-up: the progress check and the next wake-up.
            next = self.agent.poll_timeout();
            assert!(
                next.is_none_or(|n| n.as_nanos() > u128::from(self.now.real)),
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
        self.check();
    }

    fn answer(&mut self, sent: Sent, answer: Answer) {
        let answer = answer.normalized();
        self.unanswered.retain(|s| s.id != sent.id);
        let grant = u8::try_from(sent.id.0 % 200).unwrap_or(0);
        let result = response(&answer, grant);
        let outcome = read(&answer, &result);
        let was_running = self.agent.is_running();
        if let Outcome::Granted { grace_s, .. } = outcome {
            self.successes.push((sent.at, secs(grace_s).min(YEAR)));
        }
        self.agent
            .handle_response(to_now(self.now), sent.id, result);
        self.model.on_response(self.now, sent.id, &outcome, grant);
        self.last_answer = Some((sent.id, answer, outcome.clone()));
        self.after_call();
        if was_running && !outcome.has_tenure_body() && !self.agent.is_running() {
            assert!(
                matches!(self.agent.state(), State::Stopped(StopReason::GraceExpired)),
                "I9: stopped by {outcome:?}: {:?}",
                self.agent.state()
            );
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Advance { ms, until_transmit } => {
                self.advance(u64::from(ms) * MS, until_transmit)
            }
            Step::AdvanceLong { s, until_transmit } => {
                self.advance(u64::from(s) * 16 * SEC, until_transmit)
            }
            Step::WallJump { ms } => {
                self.now.wall = self.now.wall.saturating_add(i64::from(ms));
                self.check();
            }
            Step::WallJumpLong { s } => {
                // Up to about +-68 years.
                self.now.wall = self.now.wall.saturating_add(i64::from(s) * 1000);
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
                if let Some((id, answer, outcome)) = self.last_answer.clone() {
                    let before = self.agent.state().lease().copied();
                    self.agent
                        .handle_response(to_now(self.now), id, response(&answer, 0));
                    self.model.on_response(self.now, id, &outcome, 0);
                    self.after_call();
                    // A duplicate is ignored; only a deadline already due at
                    // this instant may move the state. The lease never changes.
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

fuzz_target!(|input: (u8, u8, u64, Vec<Step>)| {
    let (managers, sleep_min, seed, steps) = input;
    let mut h = Harness::new(usize::from(managers % 3) + 1, seed, sleep_min);
    for s in steps.into_iter().take(200) {
        h.step(s);
    }
});
