//! Why a license or a key was refused. `tenured serve` prints these before it
//! exits, so each message is one line an operator can act on.

use super::keys::KeyId;
use crate::rfc3339::display;
use crate::time::UnixMillis;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// The text is not a `TENURE LICENSE` block laid out as `sign` writes it.
    #[error("license file is damaged or incomplete: {0}")]
    BadArmour(String),
    /// The block's layout is right but a header or the base64 body is not.
    #[error("license file is damaged: {0}")]
    BadEncoding(String),
    #[error("license is signed by vendor key {key_id}, which is not among the trusted vendor keys")]
    UnknownKey { key_id: KeyId },
    #[error("license signature does not match its content: the license was altered or forged")]
    BadSignature,
    #[error("license content is invalid: {0}")]
    Malformed(String),
    #[error("license limits are invalid: {0}")]
    MalformedLimits(String),
    #[error("license is not valid before {}", display(*not_before))]
    NotYetValid { not_before: UnixMillis },
    #[error("license expired at {}", display(*not_after))]
    Expired { not_after: UnixMillis },
}

/// Whether a valid license covers an instant. Kept apart from `LicenseError`
/// because the manager treats the two differently: `serve` refuses to start on
/// a not-yet-valid license, while expiry is a run-time state it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Validity {
    #[error("license is not valid before {}", display(*not_before))]
    NotYetValid { not_before: UnixMillis },
    #[error("license expired at {}", display(*not_after))]
    Expired { not_after: UnixMillis },
}

impl From<Validity> for LicenseError {
    fn from(v: Validity) -> Self {
        match v {
            Validity::NotYetValid { not_before } => Self::NotYetValid { not_before },
            Validity::Expired { not_after } => Self::Expired { not_after },
        }
    }
}

/// Why a vendor key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key file is damaged or incomplete: {0}")]
    BadArmour(String),
    #[error("key file is damaged: {0}")]
    BadEncoding(String),
    #[error("key file holds {0} bytes; an Ed25519 key has 32")]
    WrongLength(usize),
    #[error("public key is not a usable Ed25519 key")]
    InvalidPublicKey,
}
