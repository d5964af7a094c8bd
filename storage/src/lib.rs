//! Where managers keep their state, and the transactional manager that runs
//! each core decision inside one storage transaction.

mod audit;
pub mod batch;
mod clock;
pub mod deadline;
mod group;
pub mod manager;
pub mod memory;
mod pools_of;
pub mod port;
pub mod report;
pub mod sql;

pub use audit::{AuditCursor, BadAuditCursor};
pub use batch::{Answer, Op, OpResult};
pub use clock::MonoClock;
pub use manager::audit::{AUDIT_PRUNE_BATCH, instance_target};
pub use manager::{
    Actor, ClockReport, Heartbeat, InstallError, InstallPolicy, Installed, Manager, ManagerError,
};
pub use memory::MemoryStore;
pub use port::{
    BatchTx, GrantsAndNow, Keyed, LicenseStamp, NowAndStamp, PoolInGrace, PoolTotalsRow,
    StepSummary, StorageError, StorageErrorKind, Store, StoredLicense, Tx, UsageCursor,
};
pub use report::{PRUNE_PER_TX, ROLLUP_DAYS_PER_TX, ReportError, UsageReport};
pub use sql::{DieselStore, SchemaState, StoreOptions};
