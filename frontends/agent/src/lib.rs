//! The Tenure agent a licensed component embeds (the agent rules A1-A8): it
//! drives the sans-IO state machine in `tenure_core::agent` with sockets and
//! timers. A component starts an [`Agent`], runs only after
//! [`Event::Started`], stops at [`Event::MustStop`], and calls
//! [`Agent::stop`] on a clean shutdown to release its grant.
//!
//! The driver is written once over a small [`Runtime`] trait (spawn, sleep,
//! now, and an HTTP client); the features `tokio` and `smol` supply one each.
//! Neither is on by default: enable the one your program already runs.
//!
//! ```no_run
//! # async fn demo(request: tenure_core::wire::GrantRequest) -> Result<(), tenure_agent::AgentError> {
//! use tenure_agent::{Agent, AgentOptions, Event};
//! let mut agent = Agent::start(AgentOptions::new(vec!["https://lm:10091".into()], request))?;
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
//!
//! The `tenure-agent` binary (feature `cli`) wraps a command in the same
//! driver; see `docs/agent.md`.

/// The version of this Tenure build and the commit it was built from, as
/// every Tenure binary's `--version` prints it.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TENURE_COMMIT"),
    ")"
);

mod clock;
mod driver;
mod error;
mod handle;
pub mod http;
mod options;
pub mod runtime;
pub mod suspend;
pub mod token;

pub use clock::{Clock, wall_now};
pub use error::{AgentError, ClientError};
pub use handle::{Agent, StopSummary};
pub use options::AgentOptions;
pub use runtime::{HttpClient, Runtime};
pub use tenure_core::agent::{Event, StopReason};
pub use token::{ComponentToken, TokenError};
