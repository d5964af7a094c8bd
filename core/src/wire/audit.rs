//! The audit trail (docs/protocol.md section 6.3): each admin action, and
//! each call refused on an admin route, as one row: when (storage time),
//! which token, what, to what, and how it ended.

use crate::{UnixMillis, rfc3339};
use serde::{Deserialize, Serialize};

/// The token name of a call that presented no valid token. Token files may
/// not use it (section 6.2), so it never stands for a real token.
pub const ANONYMOUS: &str = "-";

/// The longest text each column keeps, in characters. Longer text (a path
/// an unauthenticated caller chose, a long error) is cut, never refused:
/// a refusal must leave its row whatever the request looked like.
pub const TOKEN_NAME_MAX: usize = 64;
pub const ACTION_MAX: usize = 32;
pub const TARGET_MAX: usize = 255;
pub const RESULT_MAX: usize = 32;
pub const DETAIL_MAX: usize = 1024;

/// The admin actions (section 6.2): only an admin token may take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `DELETE /v1/admin/grants/{id}`; target: the grant id.
    Revoke,
    /// `POST /v1/admin/release`; target: `environment/product/host:port`.
    Release,
    /// `PUT /v1/license`; target: the license id (`-` when unreadable).
    InstallLicense,
}

impl AuditAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Release => "release",
            Self::InstallLicense => "install_license",
        }
    }
}

/// How an audited call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditResult {
    /// A revoke or release that ended its grant.
    Ok,
    /// No such grant or instance held: nothing changed.
    NotFound,
    /// The license was installed.
    Installed,
    /// Storage already held this license or a newer one, which stays.
    KeptStored,
    /// The license does not verify, or is not valid now: the old one stays.
    Invalid,
    /// The request could not be read (not an instance, not UTF-8).
    BadRequest,
    /// No token, or one not in the token file: 401.
    Unauthorized,
    /// A valid token whose role may not do this: 403.
    Forbidden,
    /// Refused for another reason, which the row's detail gives.
    Failed,
}

impl AuditResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotFound => "not_found",
            Self::Installed => "installed",
            Self::KeptStored => "kept_stored",
            Self::Invalid => "invalid",
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Failed => "failed",
        }
    }
}

/// What is appended to the trail; storage adds the time and a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub token_name: String,
    /// An [`AuditAction`], or for a refusal on a reading route that route's
    /// name (`status`, `grants`, `usage`, `audit`, `report`).
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: Option<String>,
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl AuditEntry {
    /// An entry with every field cut to what its column keeps.
    pub fn new(token_name: &str, action: &str, target: &str, result: AuditResult) -> Self {
        Self {
            token_name: cut(token_name, TOKEN_NAME_MAX),
            action: cut(action, ACTION_MAX),
            target: cut(target, TARGET_MAX),
            result: result.as_str().to_owned(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl AsRef<str>) -> Self {
        self.detail = Some(cut(detail.as_ref(), DETAIL_MAX));
        self
    }
}

/// One row of `GET /v1/audit`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Storage time of the action (T3), in ms since the epoch.
    pub at_ms: i64,
    /// The same instant in RFC 3339 (UTC).
    pub at: String,
    /// The token's name from the token file, or [`ANONYMOUS`].
    pub token_name: String,
    pub action: String,
    pub target: String,
    pub result: String,
    #[serde(default)]
    pub detail: Option<String>,
}

impl AuditRow {
    pub fn new(at: UnixMillis, entry: AuditEntry) -> Self {
        Self {
            at_ms: at.0,
            at: rfc3339::display(at).to_string(),
            token_name: entry.token_name,
            action: entry.action,
            target: entry.target,
            result: entry.result,
            detail: entry.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_cut_to_their_columns_and_rows_carry_both_times() {
        let long = "é".repeat(TARGET_MAX + 10);
        let e = AuditEntry::new("ops", "revoke", &long, AuditResult::NotFound)
            .with_detail("x".repeat(DETAIL_MAX * 2));
        assert_eq!(e.target.chars().count(), TARGET_MAX);
        assert_eq!(e.detail.as_deref().map(str::len), Some(DETAIL_MAX));
        assert_eq!(e.result, "not_found");
        let row = AuditRow::new(UnixMillis(1_000), e);
        assert_eq!(row.at, "1970-01-01T00:00:01Z");
        let json = serde_json::to_value(&row).expect("json");
        assert_eq!(json["token_name"], "ops");
        assert_eq!(json["at_ms"], 1_000);
    }
}
