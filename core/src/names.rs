//! Names on the wire (section 6): 1 to 128 characters of `[A-Za-z0-9._:-]`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

pub const NAME_MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{field} is empty; it needs 1 to 128 characters of [A-Za-z0-9._:-]")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters long; at most 128 are allowed")]
    TooLong { field: &'static str, len: usize },
    #[error("{field} contains {ch:?}; only [A-Za-z0-9._:-] are allowed")]
    BadChar { field: &'static str, ch: char },
}

fn check(field: &'static str, s: &str) -> Result<(), NameError> {
    let len = s.chars().count();
    if len == 0 {
        return Err(NameError::Empty { field });
    }
    if len > NAME_MAX_LEN {
        return Err(NameError::TooLong { field, len });
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some(ch) => Err(NameError::BadChar { field, ch }),
        None => Ok(()),
    }
}

/// An environment or product name, kept as given (case-sensitive). Shared
/// (`Arc<str>`): every grant, pool key and usage row carries its names, and a
/// clone should not copy them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(Arc<str>);

impl Name {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, NameError> {
        check(field, s)?;
        Ok(Self(Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        check("name", &s)?;
        Ok(Self(Arc::from(s)))
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0.as_ref().to_owned()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A host name, stored lower-case so `VDP1.example.com` and `vdp1.example.com`
/// are one instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hostname(Arc<str>);

impl Hostname {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check("hostname", s)?;
        Ok(Self(Arc::from(s.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Hostname {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<Hostname> for String {
    fn from(n: Hostname) -> String {
        n.0.as_ref().to_owned()
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert!(matches!(
            Name::parse("product", ""),
            Err(NameError::Empty { .. })
        ));
        assert!(Name::parse("product", "a").is_ok());
        assert!(Name::parse("product", &"a".repeat(127)).is_ok());
        assert!(Name::parse("product", &"a".repeat(128)).is_ok());
        assert!(matches!(
            Name::parse("product", &"a".repeat(129)),
            Err(NameError::TooLong { len: 129, .. })
        ));
        assert!(Hostname::parse(&"h".repeat(128)).is_ok());
        assert!(Hostname::parse(&"h".repeat(129)).is_err());
    }

    #[test]
    fn character_set() {
        assert!(Name::parse("product", "A-z_0.9:x").is_ok());
        for bad in ["a b", "a/b", "é", "a\0", "a\n", "a@b", "a%"] {
            assert!(
                matches!(Name::parse("product", bad), Err(NameError::BadChar { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hostnames_compare_lower_case() {
        let a = Hostname::parse("VDP1.Example.COM").expect("valid");
        let b = Hostname::parse("vdp1.example.com").expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "vdp1.example.com");
        let n = Name::parse("product", "VDP").expect("valid");
        assert_ne!(n, Name::parse("product", "vdp").expect("valid"));
    }
}
