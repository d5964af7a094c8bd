//! Verification: the manager side. Armour, then encoding, then which key, then
//! the signature, and only then the JSON: nothing unsigned is ever parsed
//! beyond the armour.

use super::armour::{self, ArmourError};
use super::error::LicenseError;
use super::keys::{KeyId, VerifyingKey};
use super::payload::License;
use super::sign::{self, KEY_ID_HEADER, LABEL, SIGNATURE_HEADER};
use crate::time::UnixMillis;
use base64::Engine;

/// A license whose signature checked out against a trusted key and whose
/// payload is valid. Only `verify` makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedLicense {
    license: License,
    payload: Vec<u8>,
    key_id: KeyId,
    text: String,
}

impl VerifiedLicense {
    pub fn license(&self) -> &License {
        &self.license
    }

    pub fn into_license(self) -> License {
        self.license
    }

    /// The exact bytes that were signed.
    pub fn payload_bytes(&self) -> &[u8] {
        &self.payload
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The license block as `sign` writes it: `\n` line endings, no text around
    /// it. It verifies to the same license, so this is what to store.
    pub fn armoured(&self) -> &str {
        &self.text
    }
}

pub fn verify(text: &str, trusted: &[VerifyingKey]) -> Result<VerifiedLicense, LicenseError> {
    let block =
        armour::decode(text, LABEL, [KEY_ID_HEADER, SIGNATURE_HEADER]).map_err(|e| match e {
            ArmourError::Layout(m) => LicenseError::BadArmour(m),
            ArmourError::Encoding(m) => LicenseError::BadEncoding(m),
        })?;
    let [key_id_text, signature_text] = block.headers;

    let key_id = KeyId::parse(key_id_text).ok_or_else(|| {
        LicenseError::BadEncoding(format!("{KEY_ID_HEADER} must be 16 lowercase hex digits"))
    })?;
    let signature = decode_signature(signature_text)?;
    let key = trusted
        .iter()
        .find(|k| k.key_id() == key_id)
        .ok_or(LicenseError::UnknownKey { key_id })?;
    if !key.verify(&sign::signed_message(&block.body), &signature) {
        return Err(LicenseError::BadSignature);
    }

    let license = License::from_payload_bytes(&block.body)?;
    let text = sign::armoured(key_id, &signature, &block.body);
    Ok(VerifiedLicense {
        license,
        payload: block.body,
        key_id,
        text,
    })
}

/// `verify`, and also refuses a license that does not cover `now`. This is the
/// check for installing a license; a running manager treats expiry separately
/// (`License::validity_at`).
pub fn verify_at(
    text: &str,
    trusted: &[VerifyingKey],
    now: UnixMillis,
) -> Result<VerifiedLicense, LicenseError> {
    let verified = verify(text, trusted)?;
    verified.license.validity_at(now)?;
    Ok(verified)
}

fn decode_signature(text: &str) -> Result<[u8; 64], LicenseError> {
    let bad = || {
        LicenseError::BadEncoding(format!(
            "{SIGNATURE_HEADER} is not 64 bytes of canonical base64"
        ))
    };
    let bytes = armour::BASE64.decode(text).map_err(|_| bad())?;
    // The engine is already strict; comparing with a re-encoding makes sure
    // the header has exactly one accepted spelling whatever the engine allows.
    if armour::BASE64.encode(&bytes) != text {
        return Err(bad());
    }
    <[u8; 64]>::try_from(bytes.as_slice()).map_err(|_| bad())
}
