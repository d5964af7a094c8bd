//! The admin HTTP client (PROTOCOL.md section 6) that `tenurectl` uses.

mod admin;
mod error;
mod tls;

pub(crate) use admin::normalise_base;
pub use admin::{AdminClient, paths};
pub use error::ClientError;
pub use tls::http_client;
