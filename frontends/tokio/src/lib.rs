//! Tenure on tokio: the `tenured` server (`server`), the admin HTTP client
//! (`client`) and the `tenurectl` binary. The agent a component embeds, and
//! the `tenure-agent` binary, are the `tenure-agent` crate.
//!
//! The rules live in `tenure-core`; this crate only owns sockets, timers,
//! files and processes.

pub mod client;
pub mod server;

pub use client::{AdminClient, ClientError};
