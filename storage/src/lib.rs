//! Where managers keep their state, and the transactional manager that runs
//! each core decision inside one storage transaction.

pub mod batch;
mod clock;
pub mod deadline;
mod group;
pub mod manager;
pub mod memory;
mod pools_of;
pub mod port;
pub mod sql;

pub use batch::{Answer, Op, OpResult};
pub use clock::MonoClock;
pub use manager::{
    ClockReport, Heartbeat, InstallError, InstallPolicy, Installed, Manager, ManagerError,
};
pub use memory::MemoryStore;
pub use port::{NowAndStamp, StepSummary, StorageError, Store, StoredLicense, Tx, UsageCursor};
pub use sql::{DieselStore, SchemaState, StoreOptions};
