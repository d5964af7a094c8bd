//! The component token (M10, docs/protocol.md section 6.2): the secret an agent
//! sends as `Authorization: Bearer` with every grant, renewal and release
//! when the managers require one. It never appears in `Debug` output or logs.

use std::path::Path;
use std::sync::Arc;

/// The shortest secret a manager accepts (section 6.2).
pub const MIN_SECRET_LEN: usize = 16;
/// A bound on what is read and sent: far above any real secret.
pub const MAX_SECRET_LEN: usize = 1024;

/// Why a component token could not be used. No variant carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read token file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "token file {path} is open to others (mode {mode:04o}); run `chmod o-rwx {path}` (0600 or 0640)"
    )]
    OpenToOthers { path: String, mode: u32 },
    #[error("token file {path} has no `NAME ROLE SECRET` or bare SECRET line")]
    NoToken { path: String },
    #[error(
        "a component token is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} visible ASCII characters without spaces"
    )]
    Invalid,
}

/// A component token's secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ComponentToken(Arc<str>);

impl std::fmt::Debug for ComponentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ComponentToken(***)")
    }
}

impl ComponentToken {
    /// A secret as given: visible ASCII only, so it can never split or
    /// inject a header line.
    pub fn new(secret: &str) -> Result<Self, TokenError> {
        let ok = (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(TokenError::Invalid);
        }
        Ok(Self(Arc::from(secret)))
    }

    /// The first token of a token file in the managers' format (`NAME ROLE
    /// SECRET` lines, or one bare SECRET; `#` comments). Like the managers,
    /// it refuses a file any other user may read or write.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let shown = path.display().to_string();
        let read_err = |e: std::io::Error| TokenError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(read_err)?
                .permissions()
                .mode();
            if mode & 0o007 != 0 {
                return Err(TokenError::OpenToOthers {
                    path: shown,
                    mode: mode & 0o7777,
                });
            }
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        // A token file is a few lines; more than this is not one.
        if bytes.len() > 64 * 1024 {
            return Err(TokenError::NoToken { path: shown });
        }
        let text = String::from_utf8_lossy(&bytes);
        let secret = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| !f.is_empty() && !f[0].starts_with('#'))
            .and_then(|f| match f.as_slice() {
                [secret] | [_, _, secret] => Some((*secret).to_owned()),
                _ => None,
            })
            .ok_or(TokenError::NoToken { path: shown })?;
        Self::new(&secret)
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "component-secret-0123456789";

    #[test]
    fn secrets_are_bounded_and_never_shown() {
        let t = ComponentToken::new(S).expect("token");
        assert_eq!(t.authorization(), format!("Bearer {S}"));
        assert!(!format!("{t:?}").contains(S));
        for bad in [
            "short",
            "has a space in it 0123",
            "line\r\nbreak-0123456789",
            "",
        ] {
            assert_eq!(
                ComponentToken::new(bad),
                Err(TokenError::Invalid),
                "{bad:?}"
            );
        }
        assert!(ComponentToken::new(&"x".repeat(MAX_SECRET_LEN + 1)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn files_give_their_first_token_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("component.token");
        let write = |text: &str, mode: u32| {
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        for text in [
            format!("{S}\n"),
            format!("# rotated\n\nnew component {S}\nold component other-secret-0123456789\n"),
        ] {
            write(&text, 0o600);
            let t = ComponentToken::from_file(&path).expect("token");
            assert_eq!(t.authorization(), format!("Bearer {S}"));
        }
        write(&format!("{S}\n"), 0o644);
        let e = ComponentToken::from_file(&path).expect_err("open to others");
        assert!(
            matches!(e, TokenError::OpenToOthers { mode: 0o644, .. }),
            "{e}"
        );
        write("# nothing\n", 0o600);
        assert!(matches!(
            ComponentToken::from_file(&path),
            Err(TokenError::NoToken { .. })
        ));
        assert!(matches!(
            ComponentToken::from_file(&dir.path().join("missing")),
            Err(TokenError::Read { .. })
        ));
    }
}
