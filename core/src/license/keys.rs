//! Vendor keys (Ed25519) and their text files.
//!
//! The core has no random generator: `tenurectl keygen` draws the 32-byte seed
//! and passes it to `SecretKey::from_seed`.

use super::armour::{self, ArmourError};
use super::error::KeyError;
use sha2::{Digest, Sha256};
use std::fmt;

const SECRET_LABEL: &str = "TENURE SECRET KEY";
const PUBLIC_LABEL: &str = "TENURE PUBLIC KEY";

/// Names a vendor public key in a license's `Key-Id` header: the first 8 bytes
/// of SHA-256 of the key. It only selects which trusted key to try; the
/// signature check is what proves anything, so 64 bits are plenty.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// Accepts exactly 16 lowercase hex digits, the only form `Display` writes,
    /// so a license has one spelling.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 16 {
            return None;
        }
        let mut out = [0u8; 8];
        for (byte, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let [hi, lo] = pair else { return None };
            *byte = (hex_value(*hi)? << 4) | hex_value(*lo)?;
        }
        Some(Self(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The vendor's signing key. Its `Debug` shows only the key id, so a stray
/// `{:?}` cannot leak it into a log; the inner key is zeroed on drop.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    pub fn key_id(&self) -> KeyId {
        self.verifying_key().key_id()
    }

    /// The `-----BEGIN TENURE SECRET KEY-----` file text.
    pub fn to_armoured(&self) -> String {
        armour::encode(SECRET_LABEL, &[], self.0.as_bytes())
    }

    pub fn from_armoured(text: &str) -> Result<Self, KeyError> {
        let seed = decode_32(text, SECRET_LABEL)?;
        Ok(Self::from_seed(seed))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// A vendor public key that a manager trusts (`--vendor-key`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Refuses byte strings that are not a curve point and small-order points,
    /// for which signatures prove nothing.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(Self(key))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.iter_mut().zip(digest.iter()).for_each(|(d, s)| *d = *s);
        KeyId(id)
    }

    /// The `-----BEGIN TENURE PUBLIC KEY-----` file text.
    pub fn to_armoured(&self) -> String {
        armour::encode(PUBLIC_LABEL, &[], self.0.as_bytes())
    }

    pub fn from_armoured(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&decode_32(text, PUBLIC_LABEL)?)
    }

    /// `verify_strict` also refuses non-canonical and small-order signature
    /// parts, so no second signature can be derived from a valid one.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifyingKey").field(&self.key_id()).finish()
    }
}

fn decode_32(text: &str, label: &str) -> Result<[u8; 32], KeyError> {
    let block = armour::decode(text, label, []).map_err(|e| match e {
        ArmourError::Layout(m) => KeyError::BadArmour(m),
        ArmourError::Encoding(m) => KeyError::BadEncoding(m),
    })?;
    <[u8; 32]>::try_from(block.body.as_slice()).map_err(|_| KeyError::WrongLength(block.body.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip() {
        let secret = SecretKey::from_seed([7; 32]);
        let text = secret.to_armoured();
        assert!(text.starts_with("-----BEGIN TENURE SECRET KEY-----\n"));
        assert!(text.ends_with("\n-----END TENURE SECRET KEY-----\n"));
        let back = SecretKey::from_armoured(&text).expect("parses");
        assert_eq!(back.verifying_key(), secret.verifying_key());

        let public = secret.verifying_key();
        let text = public.to_armoured();
        assert!(text.starts_with("-----BEGIN TENURE PUBLIC KEY-----\n"));
        assert_eq!(VerifyingKey::from_armoured(&text), Ok(public));
        assert_eq!(
            VerifyingKey::from_armoured(&text.replace('\n', "\r\n")),
            Ok(public)
        );
        assert!(matches!(
            VerifyingKey::from_armoured(&secret.to_armoured()),
            Err(KeyError::BadArmour(_))
        ));
    }

    #[test]
    fn key_id_is_sha256_prefix_in_hex() {
        let public = SecretKey::from_seed([1; 32]).verifying_key();
        let digest = Sha256::digest(public.as_bytes());
        let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let id = public.key_id();
        assert_eq!(id.to_string(), expected);
        assert_eq!(KeyId::parse(&expected), Some(id));
        assert!(KeyId::parse("0123456789abcdef").is_some());
        assert_eq!(KeyId::parse("0123456789ABCDEF"), None);
        assert_eq!(KeyId::parse("0123456789abcde"), None);
        assert_eq!(KeyId::parse("0123456789abcdeg"), None);
        assert_eq!(KeyId::parse("0123456789abcdef0"), None);
        assert_eq!(KeyId::parse("é123456789abcde"), None);
    }

    #[test]
    fn refuses_bad_public_keys() {
        let short = armour::encode(PUBLIC_LABEL, &[], &[1; 31]);
        assert_eq!(
            VerifyingKey::from_armoured(&short),
            Err(KeyError::WrongLength(31))
        );
        // The identity point has small order: every signature would verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            VerifyingKey::from_bytes(&identity),
            Err(KeyError::InvalidPublicKey)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = SecretKey::from_seed([9; 32]);
        let shown = format!("{secret:?}");
        assert!(shown.contains(&secret.key_id().to_string()));
        assert!(!shown.contains("9, 9"));
    }
}
