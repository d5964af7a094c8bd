//! Component tokens (M10, section 6.2): with `--component-token-file`, grant,
//! renew and release need `Authorization: Bearer` with one of the file's
//! tokens; without it anyone who reaches the manager may take a slot.
//!
//! Rotation: the file may list several tokens, all accepted, so a new token
//! goes in, the components move to it, and the old line comes out. The file
//! is re-read on SIGHUP (the frontends call [`ComponentTokens::reload`]); a
//! file that no longer reads, parses or passes the mode check leaves the
//! tokens in force as they were, and says why in the log.

use crate::auth::{Caller, Role, Tokens};
use crate::settings::check_token_file;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// What [`ComponentTokens::authenticate`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// No component tokens are configured: the call goes on anonymously.
    Open,
    /// The caller presented this component token.
    Token(Caller),
    /// Tokens are configured and the call had none, or a wrong one.
    Refused,
}

/// The component tokens in force, and the file they came from.
#[derive(Debug, Default)]
pub struct ComponentTokens {
    path: Option<PathBuf>,
    tokens: RwLock<Option<Arc<Tokens>>>,
}

/// The only role a component token file may carry; a file of one bare
/// SECRET line is one component token.
const ROLES: &[Role] = &[Role::Component];

/// Reads, checks (not open to others, §7.1) and parses a component token
/// file; errors are one line and never carry a secret.
pub fn read_file(path: &Path) -> Result<Tokens, String> {
    check_token_file("component token file", path).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("component token file {}: {e}", path.display()))?;
    Tokens::parse(&text, ROLES).map_err(|e| format!("component token file {}: {e}", path.display()))
}

impl ComponentTokens {
    /// No component tokens: grant, renew and release are open (M10's warning).
    pub fn none() -> Self {
        Self::default()
    }

    /// The tokens of the file at `path`, re-read from there by [`Self::reload`].
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let tokens = read_file(path)?;
        Ok(Self {
            path: Some(path.to_owned()),
            tokens: RwLock::new(Some(Arc::new(tokens))),
        })
    }

    /// Tokens given directly (tests, embedders); [`Self::reload`] keeps them.
    pub fn fixed(tokens: Tokens) -> Self {
        Self {
            path: None,
            tokens: RwLock::new(Some(Arc::new(tokens))),
        }
    }

    fn current(&self) -> Option<Arc<Tokens>> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether component calls need a token.
    pub fn required(&self) -> bool {
        self.current().is_some()
    }

    /// The names of the tokens in force, in file order (never secrets).
    pub fn names(&self) -> Vec<String> {
        self.current()
            .map(|t| t.callers().map(|c| c.name.to_string()).collect())
            .unwrap_or_default()
    }

    /// Judges an `Authorization` header for a component call.
    pub fn authenticate(&self, authorization: Option<&str>) -> Admission {
        match self.current() {
            None => Admission::Open,
            Some(tokens) => tokens
                .authenticate(authorization)
                .map_or(Admission::Refused, Admission::Token),
        }
    }

    /// Re-reads the file: `Ok(names)` of the tokens now in force, or why the
    /// old ones stay. Without a file there is nothing to re-read: turning
    /// component tokens on or off takes a restart, so a mistake in a signal
    /// never opens a manager that was closed.
    pub fn reload(&self) -> Result<Vec<String>, String> {
        let Some(path) = &self.path else {
            return Err("no --component-token-file was given at start; nothing to re-read".into());
        };
        let tokens = read_file(path)?;
        let names = tokens.callers().map(|c| c.name.to_string()).collect();
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(tokens));
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const OLD: &str = "component-old-secret-0123456789";
    const NEW: &str = "component-new-secret-9876543210";

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn bearer(s: &str) -> String {
        format!("Bearer {s}")
    }

    #[test]
    fn without_a_file_component_calls_are_open() {
        let c = ComponentTokens::none();
        assert!(!c.required());
        assert_eq!(c.authenticate(None), Admission::Open);
        assert_eq!(c.authenticate(Some(&bearer(OLD))), Admission::Open);
        assert!(c.reload().is_err());
        assert!(!c.required(), "a reload never turns tokens on");
    }

    #[test]
    fn rotation_accepts_every_line_and_a_reload_drops_the_old() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("component.token");
        write(
            &path,
            &format!("old component {OLD}\nnew component {NEW}\n"),
            0o600,
        );
        let c = ComponentTokens::from_file(&path).expect("file");
        assert!(c.required());
        assert_eq!(c.names(), ["old", "new"]);
        for (secret, name) in [(OLD, "old"), (NEW, "new")] {
            match c.authenticate(Some(&bearer(secret))) {
                Admission::Token(caller) => {
                    assert_eq!((&*caller.name, caller.role), (name, Role::Component))
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        for wrong in [None, Some("Bearer nope-nope-nope-nope"), Some(OLD)] {
            assert_eq!(c.authenticate(wrong), Admission::Refused, "{wrong:?}");
        }
        write(&path, &format!("new component {NEW}\n"), 0o600);
        assert_eq!(c.reload().expect("reload"), ["new"]);
        assert_eq!(c.authenticate(Some(&bearer(OLD))), Admission::Refused);
        assert!(matches!(
            c.authenticate(Some(&bearer(NEW))),
            Admission::Token(_)
        ));
    }

    #[test]
    fn a_bad_file_on_reload_keeps_the_tokens_in_force() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("component.token");
        write(&path, &format!("{OLD}\n"), 0o600);
        let c = ComponentTokens::from_file(&path).expect("bare secret file");
        for (text, mode, why) in [
            (format!("a admin {NEW}\n"), 0o600, "role"),
            ("short\n".to_owned(), 0o600, "shorter"),
            (format!("{NEW}\n"), 0o604, "open to others"),
        ] {
            write(&path, &text, mode);
            let e = c.reload().expect_err(why);
            assert!(e.contains(why), "{e}");
            assert!(!e.contains(NEW) && !e.contains(OLD), "{e}");
            assert!(matches!(
                c.authenticate(Some(&bearer(OLD))),
                Admission::Token(_)
            ));
        }
        std::fs::remove_file(&path).expect("rm");
        assert!(c.reload().is_err());
        assert!(c.required());
    }
}
