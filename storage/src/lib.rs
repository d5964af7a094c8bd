//! Where managers keep their state, and the transactional manager that runs
//! each core decision inside one storage transaction.

pub mod port;

pub use port::{StorageError, Store, StoredLicense, Tx};
