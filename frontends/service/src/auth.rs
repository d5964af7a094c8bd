//! Admin authentication: `Authorization: Bearer <token>`, compared in constant time.

use sha2::{Digest, Sha256};

/// The admin token, kept only as its digest so comparison time does not
/// depend on where a guess first differs, nor on its length.
pub struct AdminToken([u8; 32]);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the admin token file is empty")]
    Empty,
    #[error("the admin token is shorter than 16 characters")]
    TooShort,
}

impl AdminToken {
    /// The token file's first line, trimmed.
    pub fn from_file_text(text: &str) -> Result<Self, TokenError> {
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        if token.len() < 16 {
            return Err(TokenError::TooShort);
        }
        Ok(Self(Sha256::digest(token.as_bytes()).into()))
    }

    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some(presented) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let t = AdminToken::from_file_text("s3cret-token-0123456789\nignored\n").expect("token");
        assert!(t.check(Some("Bearer s3cret-token-0123456789")));
        assert!(!t.check(Some("Bearer s3cret-token-012345678")));
        assert!(!t.check(Some("bearer s3cret-token-0123456789")));
        assert!(!t.check(Some("s3cret-token-0123456789")));
        assert!(!t.check(Some("Bearer ")));
        assert!(!t.check(None));
        assert_eq!(
            AdminToken::from_file_text("\n").err(),
            Some(TokenError::Empty)
        );
        assert_eq!(
            AdminToken::from_file_text("short").err(),
            Some(TokenError::TooShort)
        );
    }
}
