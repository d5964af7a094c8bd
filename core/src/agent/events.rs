//! What the agent tells its host (A3): the driver acts on these, at least on
//! `MustStop`.

use super::state::StopReason;
use crate::{ErrorCode, GrantId};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The first grant succeeded: the component may start now (A1).
    Started {
        grant_id: GrantId,
    },
    Renewed {
        grant_id: GrantId,
    },
    /// A new grant replaced one the manager no longer knew (404 on renew).
    Regranted {
        grant_id: GrantId,
    },
    /// The lease passed without a renewal (by the monotonic clock, or by the
    /// wall clock after a confirmation round no manager answered, T2); the
    /// component may run for `remaining` at most.
    GraceEntered {
        remaining: Duration,
    },
    GraceOneDayLeft,
    GraceOneHourLeft,
    /// A renewal or re-grant succeeded during grace (or during a
    /// confirmation round begun in grace).
    Recovered {
        grant_id: GrantId,
    },
    /// The component must stop now. Emitted once, for every stop but a requested one.
    MustStop(StopReason),
    /// Between two consecutive calls, the wall clock moved `step_ms` more
    /// than the monotonic clock (positive: set forward; negative: set back),
    /// by more than `AgentConfig::max_clock_skew` (T2). Only reported: a step
    /// back never lengthens grace, and a step forward makes the agent
    /// confirm with a manager at once (`State::Confirming`) rather than stop.
    /// Never emitted once stopped.
    ClockStepped {
        step_ms: i64,
    },
    /// A manager answered with a Tenure error that decides nothing about the
    /// licence (A4), such as 401 `unauthorized` or 403 `forbidden`: a setting
    /// to fix, on this host or the manager. The request is retried as if
    /// the manager were unreachable; the component keeps running on its
    /// lease and grace, and a starting one keeps waiting.
    Rejected {
        status: u16,
        code: ErrorCode,
    },
}
