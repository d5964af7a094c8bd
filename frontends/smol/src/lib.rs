//! Tenure on smol: the `tenured-smol` server (`server`: async-h1 over
//! async-net, TLS through futures-rustls) and the agent driver a component
//! embeds (`agent`: the async-h1 client).
//!
//! The rules live in `tenure-core` and `tenure-service`; this crate only owns
//! sockets, timers and threads.

pub mod agent;
pub mod server;

pub use agent::{Agent, AgentError, AgentOptions, StopSummary};
