//! The agent state machine: the driver pushes input and pulls output until
//! `None`; nothing happens between calls.

use super::backoff::{Retry, Rotation, backoff_wait, renew_delay};
use super::config::AgentConfig;
use super::events::Event;
use super::io::{Request, RequestId, Response, Transmit, TransportError};
use super::outbox::Outbox;
use super::rng::SplitMix64;
use super::state::{DAY, GraceWarning, HOUR, Lease, State, StopReason};
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
    /// Waiting for the answer to `id`. Once stopped, this is a request left
    /// behind: if it turns out to have created a grant, that grant is released.
    InFlight {
        id: RequestId,
        sent: Now,
        asked: Asked,
    },
    /// Nothing to send, ever again (only when stopped).
    Done,
}

const MIN_TICK: Duration = Duration::from_millis(1);

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
        self.last_now = now;
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
        self.last_now = now;
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
            Verdict::Regrant => {
                if let State::Licensed { lease } | State::Grace { lease, .. } = &mut self.state {
                    lease.grant_id = None;
                }
                self.link = Link::Wait {
                    from: now,
                    delay: Duration::ZERO,
                };
            }
            Verdict::Refused(reason) => self.stop_with(reason),
        }
        // The lease was checked at `now` above, and nothing since can make
        // it due: a success is refused unless its lease runs past `now`.
        self.drive_link(now);
    }

    /// Clean stop (A5): queues a best-effort release of the grant held, if any,
    /// and moves to `Stopped(Requested)`. No event is emitted: the caller asked.
    /// Deadlines are not evaluated; an already stopped agent is left as it is.
    /// A grant request still in flight is remembered: if it succeeds after all,
    /// its new grant is released too, so a stop never leaks a slot.
    pub fn stop(&mut self, now: Now) {
        self.last_now = now;
        let held = match &self.state {
            State::Stopped(_) => return,
            State::Starting => None,
            State::Licensed { lease } | State::Grace { lease, .. } => lease.grant_id,
        };
        if let Some(grant_id) = held {
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
        // Converting "offset after origin" to a monotonic instant with today's
        // T2 elapsed time can only bring it earlier than the pure monotonic one.
        // The conversion is monotonic in `offset`, so of several offsets from
        // one origin only the smallest is converted (the elapsed time since an
        // origin is the costly part, and is computed once).
        let mut at = |origin: &Now, offset: u128| {
            sleep = sleep.min(offset.saturating_sub(now.elapsed_nanos_since(origin)));
        };
        match &self.state {
            State::Stopped(_) => return None,
            State::Starting => {}
            State::Licensed { lease } => {
                let ttl = lease.lease_ttl.as_nanos();
                at(&lease.since, ttl.min(lease.grace_period.as_nanos()));
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
                at(&lease.since, first);
            }
        }
        match &self.link {
            Link::Wait { from, delay } => at(from, delay.as_nanos()),
            Link::InFlight { sent, .. } => at(sent, self.config.request_timeout.as_nanos()),
            Link::Done => {}
        }
        Some(duration_from_nanos(now.mono.as_nanos() + sleep))
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// True in `Licensed` and `Grace`: the component may run.
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Licensed { .. } | State::Grace { .. })
    }

    /// The grant held, while running and the manager still knows it.
    pub fn grant_id(&self) -> Option<GrantId> {
        match &self.state {
            State::Licensed { lease } | State::Grace { lease, .. } => lease.grant_id,
            State::Starting | State::Stopped(_) => None,
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
            && now.elapsed_nanos_since(&sent) >= self.config.request_timeout.as_nanos()
        {
            self.failed(now, None);
        }
        if let Link::Wait { from, delay } = self.link
            && now.elapsed_nanos_since(&from) >= delay.as_nanos()
        {
            self.send(now);
        }
    }

    /// A3: licensed, then grace with its warnings, then a stop at the deadline.
    /// When one call jumps past several instants (a suspend), only what still
    /// applies is reported: past the deadline that is the stop alone.
    fn check_lease(&mut self, now: Now) {
        // Read by value (a few words, not the whole lease): the state is only
        // written back when it changes, which it rarely does.
        let (since, lease_ttl, grace_period, warned) = match &self.state {
            State::Licensed { lease } => (lease.since, lease.lease_ttl, lease.grace_period, None),
            State::Grace { lease, warned } => (
                lease.since,
                lease.lease_ttl,
                lease.grace_period,
                Some(*warned),
            ),
            State::Starting | State::Stopped(_) => return,
        };
        let elapsed = now.elapsed_nanos_since(&since);
        let grace = grace_period.as_nanos();
        if elapsed >= grace {
            self.stop_with(StopReason::GraceExpired);
            return;
        }
        let left = grace - elapsed;
        let (day, hour) = (DAY.as_nanos(), HOUR.as_nanos());
        let mut level = match warned {
            Some(GraceWarning::OneHour) => return,
            // Most calls in grace: no warning is due, nothing to write.
            Some(_) if left > day => return,
            Some(w) => w,
            None if elapsed >= lease_ttl.as_nanos() => {
                self.events.push_back(Event::GraceEntered {
                    remaining: duration_from_nanos(left),
                });
                GraceWarning::Nothing
            }
            None => return,
        };
        if level < GraceWarning::OneDay && grace > day && left <= day {
            self.events.push_back(Event::GraceOneDayLeft);
            level = GraceWarning::OneDay;
        }
        if level < GraceWarning::OneHour && grace > hour && left <= hour {
            self.events.push_back(Event::GraceOneHourLeft);
            level = GraceWarning::OneHour;
        }
        match &mut self.state {
            State::Grace { warned, .. } => *warned = level,
            State::Licensed { lease } => {
                let lease = *lease;
                self.state = State::Grace {
                    lease,
                    warned: level,
                };
            }
            State::Starting | State::Stopped(_) => {}
        }
    }

    /// T1: the new lease counts from `sent`. An answer that comes back after its
    /// own lease has already passed (a very slow answer, or a wall clock that
    /// jumped forward) is too late to run on and counts as a failure, so the
    /// agent never starts into grace (A1) and a late answer extends nothing.
    fn succeeded(&mut self, now: Now, sent: Now, asked: Asked, grant: &GrantResponse) {
        let lease = Lease::from_response(grant, sent);
        let elapsed = lease.elapsed(&now);
        if elapsed >= lease.lease_ttl || elapsed >= lease.grace_period {
            self.failed(now, None);
            return;
        }
        let grant_id = grant.grant_id;
        let event = match (&self.state, asked) {
            (State::Starting, _) => Event::Started { grant_id },
            (State::Grace { .. }, _) => Event::Recovered { grant_id },
            (State::Licensed { .. }, Asked::Grant) => Event::Regranted { grant_id },
            (State::Licensed { .. }, Asked::Renew) => Event::Renewed { grant_id },
            (State::Stopped(_), _) => return,
        };
        self.rotation.succeeded();
        self.state = State::Licensed { lease };
        self.events.push_back(event);
        self.link = Link::Wait {
            from: sent,
            delay: renew_delay(&mut self.rng, lease.renew_every),
        };
    }

    /// A2/A6: next manager at once, or after a whole round a full-jitter
    /// backoff on top of the round's `Retry-After` (see `backoff_wait`). The
    /// wait only delays the next send: `poll_timeout` takes the earliest of it
    /// and the lease's deadlines, so a stop is never later for it.
    fn failed(&mut self, now: Now, retry_after: Option<Duration>) {
        let delay = match self.rotation.failed(retry_after) {
            Retry::Now => Duration::ZERO,
            Retry::Backoff {
                attempt,
                retry_after,
            } => {
                let cap = match &self.state {
                    State::Licensed { lease } | State::Grace { lease, .. } => lease.renew_every,
                    State::Starting | State::Stopped(_) => self.config.max_start_backoff,
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
            State::Starting => None,
            State::Licensed { lease } | State::Grace { lease, .. } => lease.grant_id,
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

    /// Emits `MustStop` for every reason but a requested stop. A request in
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
