//! Signing: the vendor side of `tenurectl issue`.

use super::armour;
use super::error::LicenseError;
use super::keys::{KeyId, SecretKey};
use super::payload::License;

/// Prefixed to the payload before signing, so a license signature can never be
/// passed off as a signature over anything else made with the same key.
pub const SIGNATURE_CONTEXT: &[u8] = b"tenure-license-v1:";

pub(crate) const LABEL: &str = "TENURE LICENSE";
pub(crate) const KEY_ID_HEADER: &str = "Key-Id";
pub(crate) const SIGNATURE_HEADER: &str = "Signature";

/// Validates the license, serialises it (pretty JSON) and returns the armoured
/// license text. Refusing an invalid license here means a vendor can never ship
/// one that every manager would reject.
pub fn sign(license: &License, key: &SecretKey) -> Result<String, LicenseError> {
    license.validate()?;
    let payload = license.to_payload_bytes()?;
    Ok(sign_payload(&payload, key))
}

/// Signs payload bytes exactly as given, valid or not. For tools and tests that
/// need a signed payload `sign` would refuse; managers will still reject it.
pub fn sign_payload(payload: &[u8], key: &SecretKey) -> String {
    let signature = key.sign(&signed_message(payload));
    armoured(key.key_id(), &signature, payload)
}

pub(crate) fn signed_message(payload: &[u8]) -> Vec<u8> {
    [SIGNATURE_CONTEXT, payload].concat()
}

pub(crate) fn armoured(key_id: KeyId, signature: &[u8; 64], payload: &[u8]) -> String {
    use base64::Engine;
    let key_id = key_id.to_string();
    let signature = armour::BASE64.encode(signature);
    armour::encode(
        LABEL,
        &[(KEY_ID_HEADER, &key_id), (SIGNATURE_HEADER, &signature)],
        payload,
    )
}
