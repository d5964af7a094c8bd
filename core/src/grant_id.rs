//! Grant ids: 128 random bits from the caller, written as 32 lower-case hex digits.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GrantId([u8; 16]);

/// The bytes' lexicographic order (what a derive would give), compared as one
/// big-endian 128-bit number instead of a `memcmp` call: stores keep grants in
/// ordered maps keyed by id, and every renewal looks one up.
impl Ord for GrantId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        u128::from_be_bytes(self.0).cmp(&u128::from_be_bytes(other.0))
    }
}

impl PartialOrd for GrantId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

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
    /// One write of the 32 hex digits: every answer and usage row carries
    /// an id, and a `write!` per byte cost a tenth of the simulator's time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl TryFrom<String> for GrantId {
    type Error = GrantIdError;
    fn try_from(s: String) -> Result<Self, GrantIdError> {
        Self::parse(&s)
    }
}

/// The first 8 hex digits of a grant id: what logs show. The whole id is
/// the component's credential for its grant (renew, release), so it never
/// goes into a log; 32 bits tell grants apart in a log and guess nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortGrantId([u8; 4]);

impl GrantId {
    pub fn short(&self) -> ShortGrantId {
        ShortGrantId([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Display for ShortGrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
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

    #[test]
    fn writes_each_byte_as_two_lowercase_digits_high_nibble_first() {
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = ((i as u8) * 17) ^ 0xa5;
        }
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(GrantId::from_random(bytes).to_string(), expected);
        assert_eq!(
            GrantId::from_random([0x0f; 16]).to_string(),
            "0f".repeat(16)
        );
    }

    #[test]
    fn logs_get_a_prefix_only() {
        let id = GrantId::parse("0123456789abcdef0123456789abcdef").expect("id");
        assert_eq!(id.short().to_string(), "01234567");
    }

    #[test]
    fn orders_as_the_bytes_and_the_hex_text_do() {
        let ids: Vec<GrantId> = [[0u8; 16], [0xff; 16], [0x7f; 16], [0x80; 16]]
            .into_iter()
            .chain((0..16).map(|i| {
                let mut b = [0x10u8; 16];
                b[i] = 0x0f;
                b
            }))
            .map(GrantId::from_random)
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(a.cmp(b), a.as_bytes().cmp(b.as_bytes()));
                assert_eq!(a.cmp(b), a.to_string().cmp(&b.to_string()));
            }
        }
    }
}
