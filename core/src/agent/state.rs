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
    /// Final: a stopped agent never runs again; make a new one to start over.
    Stopped(StopReason),
}

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
    /// A zero `renew_every_s` is read as 1 s so a broken answer cannot make the
    /// agent renew in a busy loop.
    pub(crate) fn from_response(response: &GrantResponse, since: Now) -> Self {
        Self {
            grant_id: Some(response.grant_id),
            since,
            lease_ttl: Duration::from_secs(response.lease_ttl_s),
            renew_every: Duration::from_secs(response.renew_every_s.max(1)),
            grace_period: Duration::from_secs(response.grace_period_s),
        }
    }

    /// Elapsed since the last success by T2 (max of monotonic and wall).
    pub fn elapsed(&self, now: &Now) -> Duration {
        now.elapsed_since(&self.since)
    }

    /// Grace left at `now`: zero once the component must stop.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `Agent::stop` was called.
    Requested,
    /// Grace ran out without a successful contact (A3, I2).
    GraceExpired,
    /// 403 `revoked`.
    Revoked,
    /// 403 (or another refusal) with `license_expired`.
    LicenseExpired,
    /// Any other refusal: a 403, a refused first grant (any 4xx), or a re-grant
    /// refused with 400. `code` is the body's error code when there was one.
    Denied {
        status: u16,
        code: Option<ErrorCode>,
    },
}

impl StopReason {
    pub(crate) fn refusal(status: u16, code: Option<ErrorCode>) -> Self {
        match code {
            Some(ErrorCode::Revoked) => Self::Revoked,
            Some(ErrorCode::LicenseExpired) => Self::LicenseExpired,
            _ => Self::Denied { status, code },
        }
    }
}
