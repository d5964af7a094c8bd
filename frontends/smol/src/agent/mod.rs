//! The smol driver of the sans-IO agent in `tenure_core::agent` (PROTOCOL.md
//! section 5), the same shape as `tenure_tokio::agent`. A Rust server that
//! wants to embed licensing starts an [`Agent`], runs only after
//! [`Event::Started`], stops at [`Event::MustStop`], and calls [`Agent::stop`]
//! on a clean shutdown to release its grant.
//!
//! ```no_run
//! # async fn demo(request: tenure_core::wire::GrantRequest) -> Result<(), tenure_smol::AgentError> {
//! use tenure_smol::{Agent, AgentOptions};
//! use tenure_core::agent::Event;
//! let mut agent = Agent::start(AgentOptions::new(vec!["http://lm:10091".into()], request))?;
//! while let Some(event) = agent.next_event().await {
//!     match event {
//!         Event::Started { .. } => { /* start serving */ }
//!         Event::MustStop(reason) => { /* stop serving now */ break; }
//!         _ => {}
//!     }
//! }
//! agent.stop().await;
//! # Ok(()) }
//! ```

mod driver;
mod handle;
mod http;

pub use handle::{Agent, AgentError, AgentOptions, StopSummary};
pub use tenure_core::agent::{Event, StopReason};
