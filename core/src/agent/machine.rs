//! The agent state machine: the driver pushes input and pulls output until
//! `None`; nothing happens between calls.

use super::backoff::{Retry, Rotation, backoff_wait, renew_delay};
use super::config::{AgentConfig, MIN_TICK};
use super::deadline::{Due, due};
use super::events::Event;
use super::io::{Request, RequestId, Response, Transmit, TransportError};
use super::outbox::Outbox;
use super::rng::SplitMix64;
use super::state::{DAY, GraceWarning, HOUR, Lease, Overdue, State, StopReason};
use super::verdict::{Asked, Verdict, judge};
use crate::GrantId;
use crate::time::{Now, duration_from_nanos};
use crate::wire::GrantResponse;
use std::collections::VecDeque;
use std::time::Duration;

/// A component's side of the protocol (section 5).
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    rng: SplitMix64,
    state: State,
    link: Link,
    rotation: Rotation,
    /// The latest `now` handed in: `poll_timeout` converts deadlines with it.
    last_now: Now,
    next_id: u64,
    transmits: Outbox,
    events: VecDeque<Event>,
}

/// The one request the agent is waiting on or waiting to send.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// Send the next request once `delay` has elapsed since `from` (T2).
    Wait { from: Now, delay: Duration },
    /// Waiting for the answer to `id`, until `request_timeout` of monotonic
    /// time after `sent` (a wall step forward must not time out a request
    /// that is about to confirm the lease, T2). Once stopped, this is a
    /// request left behind: if it turns out to have created a grant, that
    /// grant is released.
    InFlight {
        id: RequestId,
        sent: Now,
        asked: Asked,
    },
    /// Nothing to send, ever again (only when stopped).
    Done,
}

/// The running states without their lease, for `check_lease`'s table.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Licensed,
    Grace(GraceWarning),
    Confirming(Overdue),
}

impl Agent {
    /// Makes an agent in `Starting` and queues its first grant request at once.
    /// `seed` drives the jitter only; give each component a different one.
    pub fn new(config: AgentConfig, now: Now, seed: u64) -> Self {
        let mut config = config;
        // Zero would make poll_timeout ask for a wake-up at the same instant forever.
        config.request_timeout = config.request_timeout.max(MIN_TICK);
        config.max_sleep = config.max_sleep.max(MIN_TICK);
        let rotation = Rotation::new(config.managers);
        let mut agent = Self {
            config,
            rng: SplitMix64::new(seed),
            state: State::Starting,
            link: Link::Wait {
                from: now,
                delay: Duration::ZERO,
            },
            rotation,
            last_now: now,
            next_id: 0,
            transmits: Outbox::default(),
            events: VecDeque::new(),
        };
        agent.drive(now);
        agent
    }

    /// Call at (or after) the instant `poll_timeout` gave, or any time earlier.
    pub fn handle_timeout(&mut self, now: Now) {
        self.observe(now);
        self.drive(now);
    }

    /// Hands in the answer to request `id`. Answers to any request but the one
    /// in flight (stale, duplicate, timed out, unknown) are ignored. Deadlines
    /// are checked at `now` first, so an answer cannot revive an expired grace.
    pub fn handle_response(
        &mut self,
        now: Now,
        id: RequestId,
        result: Result<Response, TransportError>,
    ) {
        self.observe(now);
        self.check_lease(now);
        let Link::InFlight {
            id: current,
            sent,
            asked,
        } = self.link
        else {
            self.drive_link(now);
            return;
        };
        if current != id {
            self.drive_link(now);
            return;
        }
        self.link = Link::Done;
        if let State::Stopped(_) = self.state {
            if let Ok(Response::Granted(grant)) = result {
                self.queue_release(grant.grant_id);
            }
            return;
        }
        // Read before judging consumes the answer. Any answer judged
        // unreachable may ask for a pause (a 503, a 429, a proxy's 502): the
        // verdict already says "this server cannot serve you now", and the
        // header only says for how long. Other verdicts act at once or stop.
        let retry_after = result.as_ref().ok().and_then(Response::retry_after);
        match judge(asked, self.state == State::Starting, result) {
            Verdict::Success(grant) => self.succeeded(now, sent, asked, &grant),
            Verdict::Unreachable => self.failed(now, retry_after),
            Verdict::Rejected { status, code } => {
                self.events.push_back(Event::Rejected { status, code });
                self.failed(now, retry_after);
            }
            Verdict::Regrant => {
                // A manager answered, so a confirmation round (T2) goes on
                // with it: the re-grant goes to the same manager at once, and
                // the pool admits it only if a slot is free (M1), so a slot
                // given to another meanwhile is never taken twice (I1).
                if let State::Licensed { lease }
                | State::Grace { lease, .. }
                | State::Confirming { lease, .. } = &mut self.state
                {
                    lease.grant_id = None;
                }
                self.link = Link::Wait {
                    from: now,
                    delay: Duration::ZERO,
                };
            }
            Verdict::Refused(reason) => self.stop_with(reason),
        }
        // The lease was checked at `now` above, and a success re-checks its
        // own: nothing else since can make a deadline due.
        self.drive_link(now);
    }

    /// Clean stop (A5): queues a best-effort release of the grant held, if any,
    /// and moves to `Stopped(Requested)`. No event is emitted: the caller asked.
    /// Deadlines are not evaluated; an already stopped agent is left as it is.
    /// A grant request still in flight is remembered: if it succeeds after all,
    /// its new grant is released too, so a stop never leaks a slot.
    pub fn stop(&mut self, now: Now) {
        self.last_now = now;
        if let State::Stopped(_) = self.state {
            return;
        }
        if let Some(grant_id) = self.grant_id() {
            self.queue_release(grant_id);
        }
        let renewing_what_we_release = matches!(
            self.link,
            Link::InFlight {
                asked: Asked::Renew,
                ..
            }
        );
        if renewing_what_we_release || matches!(self.link, Link::Wait { .. }) {
            self.link = Link::Done;
        }
        self.state = State::Stopped(StopReason::Requested);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The monotonic instant (same origin as `Now::mono`) at which to call
    /// `handle_timeout`: the next send, request timeout, grace entry, warning or
    /// deadline, and never later than `max_sleep` after the last call. May be at
    /// or before the last `now` when something is due. `None` once stopped.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let now = self.last_now;
        // The time left until the earliest deadline, in nanoseconds; added to
        // `now.mono` once at the end (saturating addition is monotonic, so the
        // minimum of the sums is the sum of the minimum).
        let mut sleep = self.config.max_sleep.as_nanos();
        // A deadline `offset` after `origin` by T2 (whichever clock reaches it
        // first), or by the monotonic clock alone. Converting with today's
        // elapsed time can only bring the instant earlier than the pure
        // monotonic one. The conversion is monotonic in `offset`, so of
        // several offsets from one origin only the smallest is converted.
        let by_either =
            |origin: &Now, offset: u128| offset.saturating_sub(now.elapsed_nanos_since(origin));
        let by_mono =
            |origin: &Now, offset: u128| offset.saturating_sub(now.mono_nanos_since(origin));
        match &self.state {
            State::Stopped(_) => return None,
            State::Starting => {}
            State::Licensed { lease } => {
                let ttl = lease.lease_ttl.as_nanos();
                sleep = sleep.min(by_either(
                    &lease.since,
                    ttl.min(lease.grace_period.as_nanos()),
                ));
            }
            State::Grace { lease, warned } => {
                let grace = lease.grace_period.as_nanos();
                let mut first = grace;
                let (day, hour) = (DAY.as_nanos(), HOUR.as_nanos());
                if *warned < GraceWarning::OneDay && grace > day {
                    first = first.min(grace - day);
                }
                if *warned < GraceWarning::OneHour && grace > hour {
                    first = first.min(grace - hour);
                }
                sleep = sleep.min(by_either(&lease.since, first));
            }
            // The monotonic clock reaching the lease enters grace; either
            // clock reaching grace escalates or stops.
            State::Confirming {
                lease,
                overdue: Overdue::Lease,
            } => {
                sleep = sleep
                    .min(by_mono(&lease.since, lease.lease_ttl.as_nanos()))
                    .min(by_either(&lease.since, lease.grace_period.as_nanos()));
            }
            // The wall clock already says grace is over: only the monotonic
            // deadline (and the round) is left.
            State::Confirming {
                lease,
                overdue: Overdue::Grace { .. },
            } => {
                sleep = sleep.min(by_mono(&lease.since, lease.grace_period.as_nanos()));
            }
        }
        match &self.link {
            Link::Wait { from, delay } => sleep = sleep.min(by_either(from, delay.as_nanos())),
            Link::InFlight { sent, .. } => {
                sleep = sleep.min(by_mono(sent, self.config.request_timeout.as_nanos()));
            }
            Link::Done => {}
        }
        Some(duration_from_nanos(now.mono.as_nanos() + sleep))
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// True in `Licensed`, `Grace` and `Confirming`: the component may run.
    pub fn is_running(&self) -> bool {
        self.state.lease().is_some()
    }

    /// The grant held, while running and the manager still knows it.
    pub fn grant_id(&self) -> Option<GrantId> {
        self.state.lease().and_then(|lease| lease.grant_id)
    }

    /// T2: reports a step of the wall clock against the monotonic clock
    /// since the previous call, then remembers `now`.
    fn observe(&mut self, now: Now) {
        let last = std::mem::replace(&mut self.last_now, now);
        if let State::Stopped(_) = self.state {
            return;
        }
        let mono_ms = i128::try_from(now.mono_nanos_since(&last) / 1_000_000).unwrap_or(i128::MAX);
        let step = i128::from(now.wall.0) - i128::from(last.wall.0) - mono_ms;
        if step.unsigned_abs() > self.config.max_clock_skew.as_millis() {
            let step_ms = i64::try_from(step).unwrap_or(if step < 0 { i64::MIN } else { i64::MAX });
            self.events.push_back(Event::ClockStepped { step_ms });
        }
    }

    /// Everything due at `now`, in order: deadlines, then a request timeout, then a send.
    fn drive(&mut self, now: Now) {
        self.check_lease(now);
        self.drive_link(now);
    }

    /// `drive` after the lease has been checked at `now`.
    fn drive_link(&mut self, now: Now) {
        if let State::Stopped(_) = self.state {
            return;
        }
        if let Link::InFlight { sent, .. } = self.link
            && now.mono_nanos_since(&sent) >= self.config.request_timeout.as_nanos()
        {
            self.failed(now, None);
        }
        if let Link::Wait { from, delay } = self.link
            && now.elapsed_nanos_since(&from) >= delay.as_nanos()
        {
            self.send(now);
        }
    }

    /// A3 and T2: licensed, then grace with its warnings, then a stop at the
    /// deadline; what only the wall clock says has run out is confirmed
    /// with a manager first (`State::Confirming`). When one call jumps past
    /// several instants (a suspend), only what still applies is reported:
    /// past the deadline that is the stop alone.
    fn check_lease(&mut self, now: Now) {
        let (lease, kind) = match &self.state {
            State::Licensed { lease } => (lease, Kind::Licensed),
            State::Grace { lease, warned } => (lease, Kind::Grace(*warned)),
            State::Confirming { lease, overdue } => (lease, Kind::Confirming(*overdue)),
            State::Starting | State::Stopped(_) => return,
        };
        let (due, elapsed) = due(lease, &now);
        match (kind, due) {
            (_, Due::Over) => self.stop_with(StopReason::GraceExpired),
            // Nothing changes: most calls.
            (Kind::Licensed, Due::Fresh)
            | (Kind::Confirming(Overdue::Lease), Due::LeaseByWall)
            | (Kind::Confirming(Overdue::Grace { .. }), Due::GraceByWall) => {}
            (Kind::Grace(warned), Due::GraceByWall) => {
                let lease = *lease;
                self.confirm(
                    now,
                    lease,
                    Overdue::Grace {
                        warned: Some(warned),
                    },
                    true,
                );
            }
            (Kind::Grace(warned), Due::Fresh | Due::LeaseByWall | Due::Grace) => {
                let lease = *lease;
                self.warn(&lease, elapsed, warned);
            }
            // The wall clock went back during a round: what it no longer
            // says is not confirmed any more, and a round in progress goes
            // on as an ordinary one. A grace the host was told of goes on.
            (
                Kind::Confirming(Overdue::Grace {
                    warned: Some(warned),
                }),
                Due::Fresh | Due::LeaseByWall | Due::Grace,
            ) => {
                let lease = *lease;
                self.state = State::Grace { lease, warned };
                self.warn(&lease, elapsed, warned);
            }
            (Kind::Licensed | Kind::Confirming(_), Due::Grace) => {
                let lease = *lease;
                self.enter_grace(&lease, elapsed);
            }
            (Kind::Licensed | Kind::Confirming(Overdue::Lease), Due::GraceByWall) => {
                let lease = *lease;
                self.confirm(now, lease, Overdue::Grace { warned: None }, true);
            }
            (Kind::Licensed, Due::LeaseByWall) => {
                let lease = *lease;
                self.confirm(now, lease, Overdue::Lease, true);
            }
            (Kind::Confirming(Overdue::Grace { warned: None }), Due::LeaseByWall) => {
                let lease = *lease;
                self.confirm(now, lease, Overdue::Lease, false);
            }
            (Kind::Confirming(_), Due::Fresh) => {
                let lease = *lease;
                self.state = State::Licensed { lease };
            }
        }
    }

    /// A3: the lease passed without renewal; the host is told how much
    /// grace is left, and any warning already due.
    fn enter_grace(&mut self, lease: &Lease, elapsed: u128) {
        let left = lease.grace_period.as_nanos().saturating_sub(elapsed);
        self.events.push_back(Event::GraceEntered {
            remaining: duration_from_nanos(left),
        });
        self.state = State::Grace {
            lease: *lease,
            warned: GraceWarning::Nothing,
        };
        self.warn(lease, elapsed, GraceWarning::Nothing);
    }

    /// A3's "time left" warnings due in grace at T2 `elapsed`, given the
    /// ones this episode already gave. Inline: most calls in grace find none
    /// due, and a call cost more than that check.
    #[inline]
    fn warn(&mut self, lease: &Lease, elapsed: u128, warned: GraceWarning) {
        let left = lease.grace_period.as_nanos().saturating_sub(elapsed);
        if warned == GraceWarning::OneHour || left > DAY.as_nanos() {
            return;
        }
        self.warn_due(lease, left, warned);
    }

    /// The warnings due with `left` of grace, a day or less.
    fn warn_due(&mut self, lease: &Lease, left: u128, warned: GraceWarning) {
        let grace = lease.grace_period.as_nanos();
        let (day, hour) = (DAY.as_nanos(), HOUR.as_nanos());
        let mut level = warned;
        if level < GraceWarning::OneDay && grace > day && left <= day {
            self.events.push_back(Event::GraceOneDayLeft);
            level = GraceWarning::OneDay;
        }
        if level < GraceWarning::OneHour && grace > hour && left <= hour {
            self.events.push_back(Event::GraceOneHourLeft);
            level = GraceWarning::OneHour;
        }
        if let State::Grace { warned, .. } = &mut self.state {
            *warned = level;
        }
    }

    /// T2: only the wall clock says `overdue` has run out. A fresh round
    /// asks every manager once, at once, starting with a request already in
    /// flight (its answer or timeout is the round's first attempt); a wait
    /// for a renewal or a backoff is cut short.
    fn confirm(&mut self, now: Now, lease: Lease, overdue: Overdue, fresh_round: bool) {
        self.state = State::Confirming { lease, overdue };
        if fresh_round {
            self.rotation.start_round();
            if let Link::Wait { .. } = self.link {
                self.link = Link::Wait {
                    from: now,
                    delay: Duration::ZERO,
                };
            }
        }
    }

    /// T1: the new lease counts from `sent`. An answer that comes back after
    /// its own lease has already passed by the monotonic clock (a very slow
    /// answer) is too late to run on and counts as a failure, so a late
    /// answer extends nothing. While starting, either clock saying so
    /// refuses it, so a component never starts on a lease that may be over
    /// (A1); the next request goes after the step and gets a clean one. A
    /// running agent keeps a lease that only the wall clock says is over
    /// (its request went before a step) and confirms it at once (T2).
    fn succeeded(&mut self, now: Now, sent: Now, asked: Asked, grant: &GrantResponse) {
        let lease = Lease::from_response(grant, sent);
        let elapsed = match self.state {
            State::Starting => now.elapsed_nanos_since(&sent),
            _ => now.mono_nanos_since(&sent),
        };
        // The lease is at most the grace (A8), so one comparison does.
        if elapsed >= lease.lease_ttl.as_nanos() {
            self.failed(now, None);
            return;
        }
        let grant_id = grant.grant_id;
        let event = match (&self.state, asked) {
            (State::Stopped(_), _) => return,
            (State::Starting, _) => Event::Started { grant_id },
            (
                State::Grace { .. }
                | State::Confirming {
                    overdue: Overdue::Grace { warned: Some(_) },
                    ..
                },
                _,
            ) => Event::Recovered { grant_id },
            (_, Asked::Grant) => Event::Regranted { grant_id },
            (_, Asked::Renew) => Event::Renewed { grant_id },
        };
        self.rotation.succeeded();
        self.state = State::Licensed { lease };
        self.events.push_back(event);
        self.link = Link::Wait {
            from: sent,
            delay: renew_delay(&mut self.rng, lease.renew_every),
        };
        self.check_lease(now);
    }

    /// A2/A6: next manager at once, or after a whole round a full-jitter
    /// backoff on top of the round's `Retry-After` (see `backoff_wait`). The
    /// wait only delays the next send: `poll_timeout` takes the earliest of it
    /// and the lease's deadlines, so a stop is never later for it. A whole
    /// round failing a confirmation (T2) stops or enters grace instead.
    fn failed(&mut self, now: Now, retry_after: Option<Duration>) {
        let delay = match self.rotation.failed(retry_after) {
            Retry::Now => Duration::ZERO,
            Retry::Backoff {
                attempt,
                retry_after,
            } => {
                match self.state {
                    State::Confirming {
                        overdue: Overdue::Grace { .. },
                        ..
                    } => {
                        self.stop_with(StopReason::GraceExpired);
                        return;
                    }
                    State::Confirming {
                        lease,
                        overdue: Overdue::Lease,
                    } => self.enter_grace(&lease, now.elapsed_nanos_since(&lease.since)),
                    _ => {}
                }
                let cap = match self.state.lease() {
                    Some(lease) => lease.renew_every,
                    None => self.config.max_start_backoff,
                };
                backoff_wait(
                    &mut self.rng,
                    self.config.initial_backoff,
                    attempt,
                    cap,
                    retry_after,
                )
            }
        };
        self.link = Link::Wait { from: now, delay };
    }

    fn send(&mut self, now: Now) {
        let renew = match &self.state {
            State::Stopped(_) => return,
            state => state.lease().and_then(|lease| lease.grant_id),
        };
        let (request, asked) = match renew {
            Some(grant_id) => {
                let client_time_ms = now.wall.0;
                (
                    Request::Renew {
                        grant_id,
                        client_time_ms,
                    },
                    Asked::Renew,
                )
            }
            None => {
                let mut body = self.config.request.clone();
                body.client_time = Some(now.wall);
                (Request::Grant(Box::new(body.to_raw())), Asked::Grant)
            }
        };
        let id = self.fresh_id();
        self.transmits.push_back(Transmit {
            id,
            manager: self.rotation.manager(),
            request,
        });
        self.link = Link::InFlight {
            id,
            sent: now,
            asked,
        };
    }

    fn queue_release(&mut self, grant_id: GrantId) {
        let id = self.fresh_id();
        self.transmits.push_back(Transmit {
            id,
            manager: self.rotation.manager(),
            request: Request::Release { grant_id },
        });
    }

    /// Emits `MustStop` for every reason but a requested one. A request in
    /// flight is kept (see `Link::InFlight`); a pending wait is dropped.
    fn stop_with(&mut self, reason: StopReason) {
        if let State::Stopped(_) = self.state {
            return;
        }
        self.state = State::Stopped(reason);
        if reason != StopReason::Requested {
            self.events.push_back(Event::MustStop(reason));
        }
        if let Link::Wait { .. } = self.link {
            self.link = Link::Done;
        }
    }

    fn fresh_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        id
    }
}
