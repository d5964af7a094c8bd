//! One conformance suite for every store: the same cases run against the
//! memory store, SQLite, PostgreSQL and MariaDB (see `conformance.rs`).
//! Time moves through `Backend::advance`: the memory store's clock jumps, a
//! real database is waited on, so cases use deadlines of about a second.

pub mod audit;
pub mod cases;
pub mod fixtures;
pub mod reports;

use std::time::Duration;
use tenure_core::manager::ManagerConfig;
use tenure_storage::{Manager, Store};

pub trait Backend {
    type S: Store;
    fn manager(&self, config: ManagerConfig) -> Manager<Self::S>;
    /// Lets at least `d` pass on the storage clock.
    fn advance(&self, d: Duration);
}
