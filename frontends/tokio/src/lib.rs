//! Tenure on tokio: the `tenured` server (`server`), the agent driver a component embeds (`agent`), the admin
//! HTTP client (`client`), and the `tenurectl` and `tenure-agent` binaries.
//!
//! The rules live in `tenure-core`; this crate only owns sockets, timers,
//! files and processes.

pub mod agent;
pub mod client;
pub mod server;

pub use agent::{Agent, AgentError, AgentOptions, StopSummary};
pub use client::{AdminClient, ClientError};
