//! Tenure's rules, with no I/O: the license, the wire types and their validation,
//! the manager's decisions, the component agent, and the health and clock rules.
//!
//! Nothing here reads a clock, a socket, a file or a random generator. Time and
//! random bytes come in as arguments, so the same inputs always give the same
//! outputs: the simulator and the property tests rely on that.

pub mod agent;
pub mod duration;
pub mod error;
mod grant_id;
pub mod health;
pub mod license;
pub mod manager;
pub mod names;
pub mod report;
pub mod rfc3339;
pub mod row_ages;
pub mod time;
pub mod wire;

pub use error::{ErrorBody, ErrorCode};
pub use grant_id::{GrantId, GrantIdError, ShortGrantId};
pub use time::{Now, UnixMillis};
