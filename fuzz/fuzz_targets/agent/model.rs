//! The reference agent for the `agent` fuzz target: a copy of
//! core/tests/agent_props/model.rs in u128 nanoseconds, over any answer.

use arbitrary::Arbitrary;
use std::time::Duration;
use tenure_core::agent::{Event, RequestId, StopReason};
use tenure_core::{ErrorCode, GrantId};

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000 * MS;
pub const REQUEST_TIMEOUT: u128 = 10 * SEC as u128;
/// A8: no answer gives more grace than this.
pub const YEAR: u128 = 365 * 86_400 * SEC as u128;
/// Section 9's `max_clock_skew`, in ms.
pub const MAX_CLOCK_SKEW_MS: i128 = 5_000;
#[derive(Debug, Clone, Arbitrary)]
pub enum Outcome {
    Granted {
        renew_s: u16,
        ttl_s: u32,
        grace_s: u32,
    },
    GrantedWild {
        renew_s: u64,
        ttl_s: u64,
        grace_s: u64,
    },
    Transport(u8),
    Released,
    /// Any status, with or without an error body (`code` picks one of
    /// section 6's), under a Content-Type picked by `media`, with or without
    /// a `Retry-After` (any value a driver can hand in: `parse_retry_after`
    /// saturates at `u32::MAX` seconds).
    Status {
        status: u16,
        code: Option<u8>,
        media: u8,
        retry_after_s: Option<u32>,
    },
    /// As `Status`, with a status a manager or a proxy commonly sends
    /// (`COMMON[status % len]`), so each code meets each status often.
    Common {
        status: u8,
        code: Option<u8>,
        media: u8,
        retry_after_s: Option<u32>,
    },
}

pub const COMMON: [u16; 13] = [
    400, 401, 403, 404, 405, 407, 408, 413, 415, 429, 500, 502, 503,
];

impl Outcome {
    /// `Common` as the `Status` it stands for.
    pub fn normalized(self) -> Self {
        match self {
            Self::Common {
                status,
                code,
                media,
                retry_after_s,
            } => Self::Status {
                status: COMMON[usize::from(status) % COMMON.len()],
                code,
                media,
                retry_after_s,
            },
            other => other,
        }
    }

    /// The code, when the answer is a Tenure body (A4): JSON media type
    /// and a known code. Anything else is something in between.
    pub fn tenure_code(&self) -> Option<ErrorCode> {
        match *self {
            Self::Status {
                code: Some(c),
                media,
                ..
            } if media % 4 < 2 => Some(ErrorCode::ALL[usize::from(c) % ErrorCode::ALL.len()]),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Instant {
    pub real: u64,
    pub wall: i64,
}

impl Instant {
    pub fn real_since(self, earlier: Instant) -> u128 {
        u128::from(self.real.saturating_sub(earlier.real))
    }

    /// In u128 nanoseconds: an answer's durations (u64 seconds) and wall jumps
    /// of centuries do not fit u64 nanoseconds (584 years), and the agent's
    /// `Duration`s do not saturate there.
    pub fn wall_since(self, earlier: Instant) -> u128 {
        u128::try_from(self.wall.saturating_sub(earlier.wall)).unwrap_or(0) * u128::from(MS)
    }

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Licensed,
    Grace,
    ConfirmLease,
    ConfirmGrace { told: bool },
}

#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Starting,
    Running {
        since: Instant,
        ttl: u128,
        grace: u128,
        mode: Mode,
        renewing: bool,
    },
    Stopped(StopReason),
}

/// What an answer means by A1, A4 and A8.
pub enum Meaning {
    Success { ttl: u128, grace: u128 },
    Unreachable,
    Rejected { status: u16, code: ErrorCode },
    Regrant,
    Stop(StopReason),
}

pub fn secs(s: u64) -> u128 {
    u128::from(s) * u128::from(SEC)
}

pub fn meaning(o: &Outcome, kind: Kind, starting: bool) -> Meaning {
    use ErrorCode as C;
    let success = |ttl_s: u64, grace_s: u64| {
        let grace = secs(grace_s).min(YEAR);
        Meaning::Success {
            ttl: secs(ttl_s).min(grace),
            grace,
        }
    };
    match *o {
        Outcome::Granted { ttl_s, grace_s, .. } => success(u64::from(ttl_s), u64::from(grace_s)),
        Outcome::GrantedWild { ttl_s, grace_s, .. } => success(ttl_s, grace_s),
        Outcome::Transport(_) | Outcome::Released => Meaning::Unreachable,
        Outcome::Common { .. } => unreachable!("answer() normalizes"),
        Outcome::Status { status, .. } => {
            let Some(code) = o.tenure_code() else {
                return Meaning::Unreachable;
            };
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
                Meaning::Unreachable
            }
        }
    }
}

#[derive(Debug)]
pub struct Model {
    pub phase: Phase,
    pub in_flight: Option<Sent>,
    pub granted_to_grant: bool,
    pub managers: usize,
    pub failed_in_round: usize,
    pub last_call: Instant,
    /// The events this call must give, but for the grace warnings.
    pub expected: Vec<Event>,
}

impl Model {
    pub fn stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped(_))
    }

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

    pub fn on_stop(&mut self, now: Instant) {
        self.expected.clear();
        self.last_call = now;
        if !self.stopped() {
            self.phase = Phase::Stopped(StopReason::Requested);
        }
        self.in_flight = None;
    }

    pub fn check_lease(&mut self, now: Instant) {
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
        }
    }

    pub fn expect_grace_entered(&mut self, now: Instant) {
        if let Phase::Running { since, grace, .. } = self.phase {
            let left = u64::try_from(grace - now.elapsed_since(since)).expect("under a year");
            self.expected.push(Event::GraceEntered {
                remaining: Duration::from_nanos(left),
            });
        }
    }

    pub fn stop(&mut self, reason: StopReason) {
        self.phase = Phase::Stopped(reason);
        self.expected.push(Event::MustStop(reason));
    }

    /// A request timeout, on the monotonic clock.
    pub fn expire_in_flight(&mut self, now: Instant) {
        if self.stopped() {
            return;
        }
        if let Some(sent) = self.in_flight
            && now.real_since(sent.at) >= REQUEST_TIMEOUT
        {
            self.in_flight = None;
            self.failed(now);
        }
    }

    /// A failed attempt; a whole round failing a confirmation stops (grace)
    /// or enters grace (lease).
    pub fn failed(&mut self, now: Instant) {
        self.failed_in_round += 1;
        if self.failed_in_round < self.managers {
            return;
        }
        self.failed_in_round = 0;
        match &mut self.phase {
            Phase::Running {
                mode: Mode::ConfirmGrace { .. },
                ..
            } => self.stop(StopReason::GraceExpired),
            Phase::Running { mode, .. } if *mode == Mode::ConfirmLease => {
                *mode = Mode::Grace;
                self.expect_grace_entered(now);
            }
            _ => {}
        }
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
            Meaning::Success { ttl, grace } => self.succeeded(now, sent, ttl, grace, grant),
            Meaning::Unreachable => self.failed(now),
            Meaning::Rejected { status, code } => {
                self.expected.push(Event::Rejected { status, code });
                self.failed(now);
            }
            Meaning::Regrant => {
                if let Phase::Running { renewing, .. } = &mut self.phase {
                    *renewing = false;
                }
            }
            Meaning::Stop(reason) => self.stop(reason),
        }
    }

    pub fn succeeded(&mut self, now: Instant, sent: Sent, ttl: u128, grace: u128, n: u8) {
        let (elapsed, event) = match self.phase {
            Phase::Starting => (now.elapsed_since(sent.at), 0),
            Phase::Running {
                mode: Mode::Grace | Mode::ConfirmGrace { told: true },
                ..
            } => (now.real_since(sent.at), 1),
            _ => (now.real_since(sent.at), 2),
        };
        if elapsed >= ttl {
            self.failed(now);
            return;
        }
        let grant_id = GrantId::from_random([n; 16]);
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
            ttl,
            grace,
            mode: Mode::Licensed,
            renewing: true,
        };
        self.failed_in_round = 0;
        self.check_lease(now);
    }

    pub fn running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }
}
