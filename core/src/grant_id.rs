//! Grant ids: 128 random bits from the caller, written as 32 lower-case hex digits.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GrantId([u8; 16]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a grant id is 32 hexadecimal digits")]
pub struct GrantIdError;

impl GrantId {
    /// `random` must come from a cryptographic generator: the id is the only
    /// credential a component holds for its grant.
    pub const fn from_random(random: [u8; 16]) -> Self {
        Self(random)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn parse(s: &str) -> Result<Self, GrantIdError> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return Err(GrantIdError);
        }
        let mut out = [0u8; 16];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or(GrantIdError)?;
            let lo = hex_val(pair[1]).ok_or(GrantIdError)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for GrantId {
    type Error = GrantIdError;
    fn try_from(s: String) -> Result<Self, GrantIdError> {
        Self::parse(&s)
    }
}

impl From<GrantId> for String {
    fn from(g: GrantId) -> String {
        g.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        let id = GrantId::from_random([0xab; 16]);
        let s = id.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(GrantId::parse(&s), Ok(id));
        assert_eq!(GrantId::parse(&s.to_uppercase()), Ok(id));
        assert!(GrantId::parse(&s[..31]).is_err());
        assert!(GrantId::parse(&format!("{s}0")).is_err());
        assert!(GrantId::parse(&"g".repeat(32)).is_err());
        assert!(GrantId::parse("").is_err());
        assert!(GrantId::parse(&"é".repeat(16)).is_err());
    }
}
