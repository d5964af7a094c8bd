//! The reference agent: docs/protocol.md section 5 and T2, written from the
//! rules and never from the agent's code, computed at each agent call from
//! real time (the host's monotonic clock) and the wall clock alone.
//!
//! Instants are u64 nanoseconds of real time and i64 milliseconds of wall
//! time, as the agent's host hands them in; durations are u128 nanoseconds:
//! an answer's durations (u64 seconds) and wall jumps of centuries do not fit
//! u64 nanoseconds (584 years), and the agent's `Duration`s do not saturate
//! there.

use std::time::Duration;
use tenure_core::ErrorCode;
use tenure_core::agent::{Event, RequestId, StopReason};

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000 * MS;
pub const DAY_MS: u64 = 86_400_000;
/// A8: no answer gives more grace than this.
pub const YEAR: u128 = 365 * DAY_MS as u128 * MS as u128;
pub const REQUEST_TIMEOUT: u128 = 10 * SEC as u128;
pub const INITIAL_BACKOFF: u128 = SEC as u128;
pub const MAX_START_BACKOFF: u128 = 60 * SEC as u128;
/// Section 9's `max_clock_skew`, in ms.
pub const MAX_CLOCK_SKEW_MS: i128 = 5_000;

#[derive(Debug, Clone)]
pub enum Outcome {
    Granted {
        renew_s: u64,
        ttl_s: u64,
        grace_s: u64,
    },
    Transport,
    /// A release's answer (204) to a grant or a renewal.
    Released,
    /// 503 `storage_unavailable`, with the `Retry-After` seconds the driver read.
    Unavailable {
        retry_after_s: Option<u64>,
    },
    /// An `application/json` body with this code, under this status.
    Tenure {
        status: u16,
        code: ErrorCode,
    },
    /// Something in between answered (`kind` picks how it looks: an HTML
    /// page, or a Tenure-like body without the JSON media type or with an
    /// unknown code).
    Foreign {
        status: u16,
        kind: u8,
    },
}

impl Outcome {
    /// Whether the answer is one Tenure could have sent with a body (A4).
    pub fn has_tenure_body(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Tenure { .. })
    }
}

/// `s` seconds in nanoseconds.
pub fn secs(s: u64) -> u128 {
    u128::from(s) * u128::from(SEC)
}

/// Real time (ns) and the wall clock reading (ms) at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Instant {
    pub real: u64,
    pub wall: i64,
}

impl Instant {
    pub fn real_since(self, earlier: Instant) -> u128 {
        u128::from(self.real.saturating_sub(earlier.real))
    }

    pub fn wall_since(self, earlier: Instant) -> u128 {
        u128::try_from(self.wall.saturating_sub(earlier.wall)).unwrap_or(0) * u128::from(MS)
    }

    /// T2: the larger of real and wall-clock elapsed time.
    pub fn elapsed_since(self, earlier: Instant) -> u128 {
        self.real_since(earlier).max(self.wall_since(earlier))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Grant,
    Renew,
}

#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub id: RequestId,
    pub at: Instant,
    pub kind: Kind,
}

/// Where a running component stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Licensed,
    Grace,
    /// Only the wall clock says the lease has run out: asking every manager.
    ConfirmLease,
    /// Only the wall clock says grace is over: asking every manager;
    /// `told`: the host had heard grace start.
    ConfirmGrace {
        told: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Starting,
    Running {
        since: Instant,
        /// The backoff cap while running (A2).
        renew: u128,
        ttl: u128,
        grace: u128,
        mode: Mode,
        /// false after a 404: the next request is a re-grant.
        renewing: bool,
    },
    Stopped(StopReason),
}

/// When the next request may go, from a failed attempt at `from`: T2 time
/// since then at least `at_least`, real time at most `at_most`.
#[derive(Debug, Clone, Copy)]
pub struct NextSend {
    pub from: Instant,
    pub at_least: u128,
    pub at_most: u128,
}

/// What an answer means by A1, A4 and A8.
enum Meaning {
    Success { renew: u128, ttl: u128, grace: u128 },
    Unreachable { retry_after_s: Option<u64> },
    Rejected { status: u16, code: ErrorCode },
    Regrant,
    Stop(StopReason),
}

fn meaning(outcome: &Outcome, kind: Kind, starting: bool) -> Meaning {
    use ErrorCode as C;
    match *outcome {
        Outcome::Granted {
            renew_s,
            ttl_s,
            grace_s,
        } => {
            let grace = secs(grace_s).min(YEAR);
            Meaning::Success {
                renew: secs(renew_s.max(1)),
                ttl: secs(ttl_s).min(grace),
                grace,
            }
        }
        Outcome::Transport | Outcome::Released | Outcome::Foreign { .. } => Meaning::Unreachable {
            retry_after_s: None,
        },
        Outcome::Unavailable { retry_after_s } => Meaning::Unreachable { retry_after_s },
        Outcome::Tenure { status, code } => {
            let denial = matches!(
                code,
                C::Revoked
                    | C::Replaced
                    | C::LicenseExpired
                    | C::EnvironmentNotLicensed
                    | C::ProductNotLicensed
            );
            let limit = matches!(code, C::ServersExceeded | C::CoresExceeded);
            let reason = match code {
                C::Revoked => StopReason::Revoked,
                C::Replaced => StopReason::Replaced,
                C::LicenseExpired => StopReason::LicenseExpired,
                code => StopReason::Denied { code },
            };
            if status == 403 && (denial || (limit && kind == Kind::Grant)) {
                Meaning::Stop(reason)
            } else if status == 404 && code == C::UnknownGrant && kind == Kind::Renew {
                Meaning::Regrant
            } else if status == 400 && code == C::BadRequest && kind == Kind::Grant && starting {
                Meaning::Stop(reason)
            } else if (400..500).contains(&status) {
                Meaning::Rejected { status, code }
            } else {
                Meaning::Unreachable {
                    retry_after_s: None,
                }
            }
        }
    }
}

/// The reference agent.
#[derive(Debug)]
pub struct Model {
    pub phase: Phase,
    pub in_flight: Option<Sent>,
    pub granted_to_grant: bool,
    pub managers: usize,
    /// Failures since the last success or the last round's start (A6).
    failed_in_round: usize,
    /// Failed rounds since the last success: the backoff's exponent (A2).
    rounds_failed: u32,
    /// The largest `Retry-After` heard this round, in ns.
    round_retry_after: u128,
    pub next_send: Option<NextSend>,
    last_call: Instant,
    /// The events this call must give, but for the grace warnings.
    pub expected: Vec<Event>,
}

impl Model {
    pub fn new(managers: usize, now: Instant) -> Self {
        Self {
            phase: Phase::Starting,
            in_flight: None,
            granted_to_grant: false,
            managers,
            failed_in_round: 0,
            rounds_failed: 0,
            round_retry_after: 0,
            next_send: Some(NextSend {
                from: now,
                at_least: 0,
                at_most: 0,
            }),
            last_call: now,
            expected: Vec::new(),
        }
    }

    pub fn stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped(_))
    }

    pub fn running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    /// The start of an agent call at `now`: T2's step report, then the lease.
    pub fn on_call(&mut self, now: Instant) {
        self.expected.clear();
        let last = std::mem::replace(&mut self.last_call, now);
        if self.stopped() {
            return;
        }
        let mono_ms = i128::try_from(now.real_since(last) / u128::from(MS)).unwrap_or(i128::MAX);
        let step = i128::from(now.wall) - i128::from(last.wall) - mono_ms;
        if step.abs() > MAX_CLOCK_SKEW_MS {
            let step_ms = i64::try_from(step).unwrap_or(if step < 0 { i64::MIN } else { i64::MAX });
            self.expected.push(Event::ClockStepped { step_ms });
        }
        self.check_lease(now);
    }

    /// A requested stop: no event, nothing more.
    pub fn on_stop(&mut self, now: Instant) {
        self.expected.clear();
        self.last_call = now;
        if !self.stopped() {
            self.phase = Phase::Stopped(StopReason::Requested);
        }
        self.in_flight = None;
        self.next_send = None;
    }

    /// A3 and T2: the monotonic clock acts at once; what only the wall
    /// clock says is over is confirmed with every manager first.
    fn check_lease(&mut self, now: Instant) {
        let Phase::Running {
            since,
            ttl,
            grace,
            mode,
            ..
        } = self.phase
        else {
            return;
        };
        let mono = now.real_since(since);
        let wall = now.wall_since(since);
        let next = if mono >= grace {
            self.stop(StopReason::GraceExpired);
            return;
        } else if wall >= grace {
            match mode {
                Mode::ConfirmGrace { .. } => mode,
                Mode::Grace => Mode::ConfirmGrace { told: true },
                Mode::Licensed | Mode::ConfirmLease => Mode::ConfirmGrace { told: false },
            }
        } else if mono >= ttl {
            Mode::Grace
        } else if wall >= ttl {
            match mode {
                Mode::Licensed | Mode::ConfirmLease | Mode::ConfirmGrace { told: false } => {
                    Mode::ConfirmLease
                }
                Mode::Grace | Mode::ConfirmGrace { told: true } => Mode::Grace,
            }
        } else {
            match mode {
                Mode::Grace | Mode::ConfirmGrace { told: true } => Mode::Grace,
                Mode::Licensed | Mode::ConfirmLease | Mode::ConfirmGrace { told: false } => {
                    Mode::Licensed
                }
            }
        };
        let told_before = matches!(mode, Mode::Grace | Mode::ConfirmGrace { told: true });
        if next == Mode::Grace && !told_before {
            self.expect_grace_entered(now);
        }
        // A fresh round whenever only the wall clock starts saying grace is
        // over, or the lease is over while it was fresh.
        let fresh = match (mode, next) {
            (Mode::ConfirmGrace { .. }, Mode::ConfirmGrace { .. }) => false,
            (_, Mode::ConfirmGrace { .. }) => true,
            (Mode::Licensed, Mode::ConfirmLease) => true,
            _ => false,
        };
        if let Phase::Running { mode, .. } = &mut self.phase {
            *mode = next;
        }
        if fresh {
            self.failed_in_round = 0;
            self.round_retry_after = 0;
            if self.in_flight.is_none() {
                self.next_send = Some(NextSend {
                    from: now,
                    at_least: 0,
                    at_most: 0,
                });
            }
        }
    }

    fn expect_grace_entered(&mut self, now: Instant) {
        if let Phase::Running { since, grace, .. } = self.phase {
            let left = u64::try_from(grace - now.elapsed_since(since)).expect("under a year");
            self.expected.push(Event::GraceEntered {
                remaining: Duration::from_nanos(left),
            });
        }
    }

    fn stop(&mut self, reason: StopReason) {
        self.phase = Phase::Stopped(reason);
        self.expected.push(Event::MustStop(reason));
        self.next_send = None;
    }

    /// A request timeout, measured on the monotonic clock.
    pub fn expire_in_flight(&mut self, now: Instant) {
        if self.stopped() {
            return;
        }
        if let Some(sent) = self.in_flight
            && now.real_since(sent.at) >= REQUEST_TIMEOUT
        {
            self.in_flight = None;
            self.failed(now, None);
        }
    }

    /// A failed attempt: the next manager at once, or after a whole round
    /// the round's pause (clamped to the cap) plus jitter. A whole round
    /// failing a confirmation stops (grace) or enters grace (lease).
    fn failed(&mut self, now: Instant, retry_after_s: Option<u64>) {
        if let Some(r) = retry_after_s {
            self.round_retry_after = self.round_retry_after.max(secs(r));
        }
        self.failed_in_round += 1;
        if self.failed_in_round < self.managers {
            self.next_send = Some(NextSend {
                from: now,
                at_least: 0,
                at_most: 0,
            });
            return;
        }
        let attempt = self.rounds_failed;
        self.rounds_failed = self.rounds_failed.saturating_add(1);
        self.failed_in_round = 0;
        let pause = std::mem::take(&mut self.round_retry_after);
        let cap = match &mut self.phase {
            Phase::Running {
                mode: Mode::ConfirmGrace { .. },
                ..
            } => {
                self.stop(StopReason::GraceExpired);
                return;
            }
            Phase::Running { mode, renew, .. } => {
                let entering = *mode == Mode::ConfirmLease;
                if entering {
                    *mode = Mode::Grace;
                }
                let renew = *renew;
                if entering {
                    self.expect_grace_entered(now);
                }
                renew
            }
            Phase::Starting | Phase::Stopped(_) => MAX_START_BACKOFF,
        };
        let ceiling = 1u128
            .checked_shl(attempt)
            .and_then(|f| INITIAL_BACKOFF.checked_mul(f))
            .map_or(cap, |c| c.min(cap));
        let pause = pause.min(cap);
        self.next_send = Some(NextSend {
            from: now,
            at_least: pause,
            at_most: pause + ceiling,
        });
    }

    pub fn next_kind(&self) -> Option<Kind> {
        match self.phase {
            Phase::Starting => Some(Kind::Grant),
            Phase::Running { renewing: true, .. } => Some(Kind::Renew),
            Phase::Running {
                renewing: false, ..
            } => Some(Kind::Grant),
            Phase::Stopped(_) => None,
        }
    }

    pub fn on_response(&mut self, now: Instant, id: RequestId, outcome: &Outcome, grant: u8) {
        self.on_call(now);
        if self.stopped() {
            return;
        }
        let Some(sent) = self.in_flight.filter(|s| s.id == id) else {
            self.expire_in_flight(now);
            return;
        };
        self.in_flight = None;
        let starting = matches!(self.phase, Phase::Starting);
        match meaning(outcome, sent.kind, starting) {
            Meaning::Success { renew, ttl, grace } => {
                self.succeeded(now, sent, renew, ttl, grace, grant)
            }
            Meaning::Unreachable { retry_after_s } => self.failed(now, retry_after_s),
            Meaning::Rejected { status, code } => {
                self.expected.push(Event::Rejected { status, code });
                self.failed(now, None);
            }
            Meaning::Regrant => {
                if let Phase::Running { renewing, .. } = &mut self.phase {
                    *renewing = false;
                }
                // A manager answered: the round goes on, the re-grant at once.
                self.next_send = Some(NextSend {
                    from: now,
                    at_least: 0,
                    at_most: 0,
                });
            }
            Meaning::Stop(reason) => self.stop(reason),
        }
    }

    /// T1 from the send; too late to run on by the monotonic clock, or by
    /// either clock before the first start (A1), is a failure.
    fn succeeded(&mut self, now: Instant, sent: Sent, renew: u128, ttl: u128, grace: u128, n: u8) {
        let (elapsed, event) = match self.phase {
            Phase::Starting => (now.elapsed_since(sent.at), 0),
            Phase::Running {
                mode: Mode::Grace | Mode::ConfirmGrace { told: true },
                ..
            } => (now.real_since(sent.at), 1),
            _ => (now.real_since(sent.at), 2),
        };
        if elapsed >= ttl {
            self.failed(now, None);
            return;
        }
        let grant_id = tenure_core::GrantId::from_random([n; 16]);
        self.expected.push(match (event, sent.kind) {
            (0, _) => Event::Started { grant_id },
            (1, _) => Event::Recovered { grant_id },
            (_, Kind::Grant) => Event::Regranted { grant_id },
            (_, Kind::Renew) => Event::Renewed { grant_id },
        });
        if sent.kind == Kind::Grant {
            self.granted_to_grant = true;
        }
        self.phase = Phase::Running {
            since: sent.at,
            renew,
            ttl,
            grace,
            mode: Mode::Licensed,
            renewing: true,
        };
        self.failed_in_round = 0;
        self.rounds_failed = 0;
        self.round_retry_after = 0;
        self.next_send = None;
        // A lease whose request went before a wall step is confirmed at once.
        self.check_lease(now);
    }
}
