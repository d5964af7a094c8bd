//! What the agent tells its host (A3): the driver acts on these, at least on
//! `MustStop`.

use super::state::StopReason;
use crate::GrantId;
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
    /// The lease passed without a renewal; the component may run for `remaining`.
    GraceEntered {
        remaining: Duration,
    },
    GraceOneDayLeft,
    GraceOneHourLeft,
    /// A renewal or re-grant succeeded during grace.
    Recovered {
        grant_id: GrantId,
    },
    /// The component must stop now. Emitted once, for every stop but a requested one.
    MustStop(StopReason),
}
