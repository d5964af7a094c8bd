//! The diesel store: SQLite (embedded, one manager) and PostgreSQL or MySQL
//! (shared by two managers), selected by URL. Every grant decision runs in one
//! transaction that first locks its pool's row (M5) and reads the database's
//! clock (T3); nothing here reads the process's clock.

mod connection;
mod errors;
#[cfg(feature = "mysql")]
mod keepalive;
mod migrate;
mod rows;
mod schema;
mod store;
mod tx;

pub use connection::{AnyConnection, Backend};
pub use migrate::SchemaState;
pub use store::{DieselStore, LocalClock, StoreOptions};
