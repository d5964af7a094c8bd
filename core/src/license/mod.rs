//! Licenses: the signed payload, the armoured text format, signing and verification.

mod payload;

pub use payload::{DEFAULT_GRACE_PERIOD_S, Extra, License, Limits};
