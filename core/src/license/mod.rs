//! Licenses: the signed payload, the armoured text format, signing and verification.
//!
//! A license file looks like this (the body is the base64 of the exact payload
//! bytes, pretty JSON, wrapped at 64 columns):
//!
//! ```text
//! -----BEGIN TENURE LICENSE-----
//! Key-Id: 1a2b3c4d5e6f7081
//! Signature: <base64 of the 64-byte Ed25519 signature>
//!
//! ewogICJsaWNlbnNlX2lkIjogIkFDTUUtMjAyNy0wMDEiLAogICJsaWNlbnNlZSI6
//! ...
//! -----END TENURE LICENSE-----
//! ```
//!
//! The signature is over `tenure-license-v1:` followed by the payload bytes.

mod armour;
mod error;
mod json;
mod keys;
mod payload;
mod sign;
mod validate;
mod verify;

pub use error::{KeyError, LicenseError, Validity};
pub use keys::{KeyId, SecretKey, VerifyingKey};
pub use payload::{DEFAULT_GRACE_PERIOD_S, Extra, License, Limits};
pub use sign::{SIGNATURE_CONTEXT, sign, sign_payload};
pub use validate::{MAX_GRACE_PERIOD_S, TEXT_MAX_CHARS};
pub use verify::{VerifiedLicense, verify, verify_at};
