//! The agent's state: one enum, data in its variants (A1, A3).

use crate::time::Now;
use crate::wire::GrantResponse;
use crate::{ErrorCode, GrantId};
use std::time::Duration;

pub(crate) const DAY: Duration = Duration::from_secs(86_400);
pub(crate) const HOUR: Duration = Duration::from_secs(3_600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No grant yet. The component must not run (A1, I3).
    Starting,
    /// The lease is fresh.
    Licensed { lease: Lease },
    /// The lease passed without renewal; running until `lease.grace_deadline`.
    Grace { lease: Lease, warned: GraceWarning },
    /// Only the wall clock says `overdue` has run out; the monotonic clock
    /// does not (T2). The component runs on while the agent asks every
    /// manager once, at once, each with its request timeout and no backoff.
    /// A success runs on with the lease it gives; a Tenure denial stops; a
    /// round in which no manager answered enters grace (`Overdue::Lease`) or
    /// stops (`Overdue::Grace`). The monotonic clock alone saying grace is
    /// over still stops at once (I2).
    Confirming { lease: Lease, overdue: Overdue },
    /// Final: a stopped agent never runs again; make a new one to start over.
    Stopped(StopReason),
}

impl State {
    /// The lease the component runs on, in every running state.
    pub fn lease(&self) -> Option<&Lease> {
        match self {
            Self::Licensed { lease }
            | Self::Grace { lease, .. }
            | Self::Confirming { lease, .. } => Some(lease),
            Self::Starting | Self::Stopped(_) => None,
        }
    }
}

/// What the wall clock alone says has run out (T2), hence where a
/// confirmation round in which no manager answers leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdue {
    /// The lease: a failed round enters grace as usual (A3).
    Lease,
    /// Grace: a failed round stops (`GraceExpired`). `warned` is `Some`
    /// (with the warnings given) when the host had been told grace started
    /// (`Event::GraceEntered`): a success then ends that grace with
    /// `Event::Recovered`, and a wall clock set back below the deadline
    /// returns to that grace.
    Grace { warned: Option<GraceWarning> },
}

/// The longest grace an answer can give (A8): longer ones are capped to it.
pub const MAX_GRACE_PERIOD: Duration = Duration::from_secs(365 * 86_400);

/// What the last success gave, measured from when its request was sent (T1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The grant to renew. `None` after the manager answered 404 (it no longer
    /// knows the grant): the agent is re-granting and has nothing to release.
    pub grant_id: Option<GrantId>,
    /// When the request that succeeded was queued.
    pub since: Now,
    pub lease_ttl: Duration,
    pub renew_every: Duration,
    pub grace_period: Duration,
}

impl Lease {
    /// Only the relative durations count (T1): `server_time_ms` decides nothing.
    /// A8 caps what the answer gives, and caps rather than refuses, so a
    /// manager with odd settings still licenses: grace at most
    /// [`MAX_GRACE_PERIOD`], the lease at most the grace, and a zero
    /// `renew_every_s` read as 1 s so a broken answer cannot make the agent
    /// renew in a busy loop.
    pub(crate) fn from_response(response: &GrantResponse, since: Now) -> Self {
        let grace_period = Duration::from_secs(response.grace_period_s).min(MAX_GRACE_PERIOD);
        Self {
            grant_id: Some(response.grant_id),
            since,
            lease_ttl: Duration::from_secs(response.lease_ttl_s).min(grace_period),
            renew_every: Duration::from_secs(response.renew_every_s.max(1)),
            grace_period,
        }
    }

    /// Elapsed since the last success by T2 (max of monotonic and wall).
    pub fn elapsed(&self, now: &Now) -> Duration {
        now.elapsed_since(&self.since)
    }

    /// Grace left at `now` by T2: zero once either clock says grace is over.
    pub fn grace_left(&self, now: &Now) -> Duration {
        self.grace_period.saturating_sub(self.elapsed(now))
    }
}

/// Which "time left" warnings this grace episode has given. Ordered, so one
/// value says all: an hour warning implies the day warning was given or did not
/// apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GraceWarning {
    Nothing,
    OneDay,
    OneHour,
}

/// Why the component must stop. Every reason but `Requested` and
/// `GraceExpired` comes from a Tenure answer (A4): a status with an
/// `application/json` body `{"error": CODE}`; nothing else decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `Agent::stop` was called.
    Requested,
    /// Grace ran out without a successful contact (A3, I2): by the monotonic
    /// clock, or by the wall clock after a confirmation round in which no
    /// manager answered (T2).
    GraceExpired,
    /// 403 `revoked`.
    Revoked,
    /// 403 `replaced` (M3): another process claimed this instance
    /// (environment, product, hostname, port) and holds it now. Final: the
    /// newest claimant runs, this one stops.
    Replaced,
    /// 403 `license_expired`.
    LicenseExpired,
    /// Any other denial: 403 `environment_not_licensed` or
    /// `product_not_licensed`; a grant or re-grant refused with
    /// `servers_exceeded` or `cores_exceeded`; a first grant refused with
    /// 400 `bad_request` (a request that can never succeed).
    Denied { code: ErrorCode },
}

impl StopReason {
    pub(crate) const fn refusal(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Revoked => Self::Revoked,
            ErrorCode::Replaced => Self::Replaced,
            ErrorCode::LicenseExpired => Self::LicenseExpired,
            _ => Self::Denied { code },
        }
    }
}
