//! The admin HTTP client (docs/protocol.md section 6) that `tenurectl` uses.

mod admin;
mod error;

pub use admin::{AdminClient, paths};
pub use error::ClientError;
