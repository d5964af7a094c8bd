//! Named bearer tokens with roles (section 6.2): the token file's format, and
//! the constant-time check of `Authorization: Bearer <secret>`.
//!
//! A token file holds one token per line, `NAME ROLE SECRET`; blank lines and
//! lines starting with `#` are skipped. A file whose only token line is a bare
//! SECRET is one admin token named `admin` (the format before roles). This
//! module reads text only: whether the file may be read by others is checked
//! where the file is opened.

use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The shortest secret accepted (section 6.2).
pub const MIN_SECRET_LEN: usize = 16;
/// The longest token name: names go into logs and, later, the audit trail.
pub const MAX_NAME_LEN: usize = 64;
/// The name a bare-secret file gives its one admin token.
pub const BARE_NAME: &str = "admin";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads and acts: release, revoke, install a license.
    Admin,
    /// Reads only: status, grants, usage, reports, audit.
    Viewer,
    /// A licensed component (grant, renew, release).
    Component,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
            Self::Component => "component",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Viewer, Self::Component]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// Whether this role may read the admin API (status, grants, usage).
    pub const fn may_read(self) -> bool {
        matches!(self, Self::Admin | Self::Viewer)
    }

    /// Whether this role may release, revoke or install a license.
    pub const fn may_act(self) -> bool {
        matches!(self, Self::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request: the name and role of the token it presented. This is
/// what logs and the audit trail record; the secret never leaves this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: Arc<str>,
    pub role: Role,
}

/// Why a token file was refused. Line numbers count from 1; no variant
/// carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    #[error("the token file has no token")]
    Empty,
    #[error(
        "line {line}: expected `NAME ROLE SECRET` (or a file of one bare SECRET line), found {fields} fields"
    )]
    Fields { line: usize, fields: usize },
    #[error("line {line}: a bare SECRET line is only allowed as the file's one token")]
    BareAmongNamed { line: usize },
    #[error("line {line}: the secret is shorter than {MIN_SECRET_LEN} characters")]
    TooShort { line: usize },
    #[error("line {line}: the name must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9._-]")]
    BadName { line: usize },
    #[error("line {line}: role `{role}` is not one of {allowed}")]
    RoleNotAllowed {
        line: usize,
        role: String,
        allowed: String,
    },
    #[error(
        "line {line}: the name `-` is reserved: the audit trail's name for a call without a valid token"
    )]
    ReservedName { line: usize },
    #[error("line {line}: the name `{name}` is used twice")]
    DuplicateName { line: usize, name: String },
    #[error("line {line}: the secret of `{name}` is already another token's")]
    DuplicateSecret { line: usize, name: String },
}

/// One token as the file gives it: the secret is kept only as its digest.
struct Token {
    caller: Caller,
    digest: [u8; 32],
}

/// The tokens of one token file.
pub struct Tokens {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tokens.iter().map(|t| &t.caller))
            .finish()
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equal digests, in time that does not depend on where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Tokens {
    /// The admin token file (`--admin-token-file`): roles `admin` and `viewer`.
    pub fn from_file_text(text: &str) -> Result<Self, TokenFileError> {
        Self::parse(text, &[Role::Admin, Role::Viewer])
    }

    /// A token file whose lines may only carry the roles in `allowed`. A
    /// bare-secret file is one token of the first allowed role, named
    /// [`BARE_NAME`].
    pub fn parse(text: &str, allowed: &[Role]) -> Result<Self, TokenFileError> {
        let lines: Vec<(usize, Vec<&str>)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>()))
            .filter(|(_, f)| !f.is_empty() && !f[0].starts_with('#'))
            .collect();
        let bare_role = allowed.first().copied().unwrap_or(Role::Admin);
        let mut tokens: Vec<Token> = Vec::with_capacity(lines.len());
        for (line, fields) in &lines {
            let line = *line;
            let (name, role, secret) = match fields.as_slice() {
                [secret] if lines.len() == 1 => (BARE_NAME, bare_role, *secret),
                [_] => return Err(TokenFileError::BareAmongNamed { line }),
                [name, role, secret] => {
                    let role = Role::parse(role)
                        .filter(|r| allowed.contains(r))
                        .ok_or_else(|| TokenFileError::RoleNotAllowed {
                            line,
                            role: (*role).to_owned(),
                            allowed: allowed
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })?;
                    (*name, role, *secret)
                }
                other => {
                    return Err(TokenFileError::Fields {
                        line,
                        fields: other.len(),
                    });
                }
            };
            if !valid_name(name) {
                return Err(TokenFileError::BadName { line });
            }
            if name == tenure_core::wire::ANONYMOUS {
                return Err(TokenFileError::ReservedName { line });
            }
            if secret.chars().count() < MIN_SECRET_LEN {
                return Err(TokenFileError::TooShort { line });
            }
            if tokens.iter().any(|t| &*t.caller.name == name) {
                return Err(TokenFileError::DuplicateName {
                    line,
                    name: name.to_owned(),
                });
            }
            let d = digest(secret);
            if tokens.iter().any(|t| t.digest == d) {
                return Err(TokenFileError::DuplicateSecret {
                    line,
                    name: name.to_owned(),
                });
            }
            tokens.push(Token {
                caller: Caller {
                    name: Arc::from(name),
                    role,
                },
                digest: d,
            });
        }
        if tokens.is_empty() {
            return Err(TokenFileError::Empty);
        }
        Ok(Self { tokens })
    }

    /// The token whose secret is `secret` (surrounding whitespace ignored).
    /// Every token is compared, each in constant time, so the time taken
    /// says nothing about which token, or which byte, came close.
    pub fn check_secret(&self, secret: &str) -> Option<Caller> {
        let d = digest(secret.trim());
        let mut found = None;
        for t in &self.tokens {
            if same(&t.digest, &d) {
                found = Some(&t.caller);
            }
        }
        found.cloned()
    }

    /// The caller an `Authorization: Bearer <secret>` header names.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<Caller> {
        let secret = authorization?.strip_prefix("Bearer ")?;
        self.check_secret(secret)
    }

    /// The callers, in file order (names and roles; never secrets).
    pub fn callers(&self) -> impl Iterator<Item = &Caller> {
        self.tokens.iter().map(|t| &t.caller)
    }
}

/// The secret a client (`tenurectl`) sends from a token file: that of its
/// first token line, `NAME ROLE SECRET` or a bare SECRET.
pub fn first_secret(text: &str) -> Option<&str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| !f.is_empty() && !f[0].starts_with('#'))
        .and_then(|f| match f.as_slice() {
            [secret] | [_, _, secret] => Some(*secret),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "s3cret-token-0123456789";
    const V: &str = "viewer-secret-abcdefghij";

    fn admin_viewer() -> Tokens {
        Tokens::from_file_text(&format!(
            "# operators\nalice admin {A}\n\n  bob   viewer\t{V}  \n"
        ))
        .expect("tokens")
    }

    #[test]
    fn a_bare_line_is_the_admin_token_named_admin() {
        let t = Tokens::from_file_text(&format!("{A}\n")).expect("token");
        let c = t.authenticate(Some(&format!("Bearer {A}"))).expect("admin");
        assert_eq!((&*c.name, c.role), ("admin", Role::Admin));
        assert_eq!(t.authenticate(Some(&format!("Bearer  {A} "))), Some(c));
        for bad in [
            format!("Bearer {}", &A[..A.len() - 1]),
            format!("Bearer {A}x"),
            format!("bearer {A}"),
            A.to_owned(),
            "Bearer ".to_owned(),
        ] {
            assert_eq!(t.authenticate(Some(&bad)), None, "{bad}");
        }
        assert_eq!(t.authenticate(None), None);
    }

    #[test]
    fn named_tokens_carry_their_roles() {
        let t = admin_viewer();
        let a = t.check_secret(A).expect("alice");
        let v = t.check_secret(V).expect("bob");
        assert_eq!((&*a.name, a.role), ("alice", Role::Admin));
        assert_eq!((&*v.name, v.role), ("bob", Role::Viewer));
        assert!(a.role.may_act() && a.role.may_read());
        assert!(!v.role.may_act() && v.role.may_read());
        assert!(t.check_secret("no-such-secret-at-all").is_none());
        assert_eq!(t.callers().count(), 2);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        use TokenFileError as E;
        let cases: Vec<(String, E)> = vec![
            ("\n# only a comment\n".into(), E::Empty),
            ("short".into(), E::TooShort { line: 1 }),
            (format!("a admin {A}\n{V}\n"), E::BareAmongNamed { line: 2 }),
            ("a admin\n".to_owned(), E::Fields { line: 1, fields: 2 }),
            (
                format!("a admin {A} extra\n"),
                E::Fields { line: 1, fields: 4 },
            ),
            (
                format!("a root {A}\n"),
                E::RoleNotAllowed {
                    line: 1,
                    role: "root".into(),
                    allowed: "admin, viewer".into(),
                },
            ),
            (
                format!("a component {A}\n"),
                E::RoleNotAllowed {
                    line: 1,
                    role: "component".into(),
                    allowed: "admin, viewer".into(),
                },
            ),
            (format!("a<b admin {A}\n"), E::BadName { line: 1 }),
            (format!("- admin {A}\n"), E::ReservedName { line: 1 }),
            ("a viewer short\n".to_owned(), E::TooShort { line: 1 }),
            (
                format!("a admin {A}\na viewer {V}\n"),
                E::DuplicateName {
                    line: 2,
                    name: "a".into(),
                },
            ),
            (
                format!("a admin {A}\nb viewer {A}\n"),
                E::DuplicateSecret {
                    line: 2,
                    name: "b".into(),
                },
            ),
        ];
        for (text, want) in cases {
            let got = Tokens::from_file_text(&text).err();
            assert_eq!(got.as_ref(), Some(&want), "{text:?}");
            let msg = want.to_string();
            assert!(!msg.contains(A) && !msg.contains(V), "{msg}");
        }
    }

    #[test]
    fn clients_send_the_first_tokens_secret() {
        assert_eq!(first_secret(&format!("{A}\n")), Some(A));
        assert_eq!(
            first_secret(&format!("# c\n\nalice admin {A}\nbob viewer {V}\n")),
            Some(A)
        );
        assert_eq!(first_secret("a b\n"), None);
        assert_eq!(first_secret("\n"), None);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let shown = format!("{:?}", admin_viewer());
        assert!(
            shown.contains("alice") && shown.contains("Viewer"),
            "{shown}"
        );
        assert!(!shown.contains(A) && !shown.contains(V), "{shown}");
    }

    #[test]
    fn other_files_choose_their_roles() {
        let t = Tokens::parse(&format!("agent1 component {A}\n"), &[Role::Component])
            .expect("component file");
        assert_eq!(t.check_secret(A).map(|c| c.role), Some(Role::Component));
        let bare = Tokens::parse(A, &[Role::Component]).expect("bare");
        assert_eq!(bare.check_secret(A).map(|c| c.role), Some(Role::Component));
    }
}
