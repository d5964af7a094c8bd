//! The manager's decisions (M1-M3, M7, M8) as pure functions.
//!
//! Each takes what one storage transaction read (the license, the relevant held
//! grants, the storage clock's `now` as [`Instants`], corrected for recorded
//! storage clock steps (M9, T3), fresh random bytes for ids) and returns a
//! [`Decision`]: the reply for the caller and the mutations the transaction must
//! apply before it commits. A denial can still carry mutations (reclaiming
//! grants found past their deadline, ending a grant whose license expired), so
//! storage applies `mutations` whatever the outcome.

pub mod clock_watch;
mod config;
mod decide;
mod denial;
mod held;
mod pool;
mod views;

pub use clock_watch::{ClockWatch, Instants, RecordedStep, Step, StoredClock};
pub use config::{InvalidSetting, MIN_RECLAIM_MARGIN, ManagerConfig};
pub use decide::{admin_release, grant, reclaim, release, renew, revoke};
pub use denial::Denial;
pub use held::{HeldGrant, Mutation};
pub use pool::{PoolTotals, PoolView};
pub use views::{grant_view, pool_usage};

/// The outcome of one decision and what storage must write for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<T> {
    pub outcome: Result<T, Denial>,
    pub mutations: Vec<Mutation>,
}
