//! Licenses: the signed payload, the armoured text format, signing and verification.

mod payload;

pub use payload::{Extra, License, Limits, DEFAULT_GRACE_PERIOD_S};
