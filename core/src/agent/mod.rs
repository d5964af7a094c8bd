//! The component agent (docs/protocol.md section 5), sans-IO.
//!
//! The driver owns sockets and timers and runs this loop:
//!
//! 1. hand in what happened: `handle_response(now, id, result)` for an answer,
//!    `handle_timeout(now)` when the instant from `poll_timeout` has come;
//! 2. send every `poll_transmit()`, act on every `poll_event()` (at least on
//!    `Event::MustStop`), and sleep until `poll_timeout()`.
//!
//! Time comes in as `Now` (monotonic and wall); elapsed time is their max
//! (T2), and leases count from when the succeeding request was queued (T1).
//! What only the wall clock says has run out is confirmed with a manager at
//! once (`State::Confirming`) instead of acted on; what the monotonic clock
//! says has run out is acted on at once. Only a Tenure answer decides (A4,
//! see `verdict`), and what an answer gives is capped (A8, `Lease`).
//! Jitter comes from a generator seeded by the caller, so the same inputs always
//! give the same outputs.

mod backoff;
mod config;
mod deadline;
mod events;
mod io;
mod machine;
mod outbox;
mod retry_after;
mod rng;
mod state;
mod verdict;

#[cfg(test)]
mod tests;

pub use config::{AgentConfig, DRIVER_MAX_SLEEP};
pub use events::Event;
pub use io::{Request, RequestId, Response, Transmit, TransportError};
pub use machine::Agent;
pub use retry_after::{MAX_RETRY_AFTER, parse_retry_after};
pub use state::{GraceWarning, Lease, MAX_GRACE_PERIOD, Overdue, State, StopReason};
