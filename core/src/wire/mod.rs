//! Request and response bodies of the HTTP API (docs/protocol.md section 6), and the
//! validation that turns untrusted JSON into typed values.

mod admin;
mod audit;
mod grant;

pub use admin::{
    EndReason, GrantState, GrantView, ManagerView, PoolUsage, ReleaseRequest, StatusView, UsageRow,
};
pub use audit::{
    ACTION_MAX, ANONYMOUS, AuditAction, AuditEntry, AuditResult, AuditRow, DETAIL_MAX, RESULT_MAX,
    TARGET_MAX, TOKEN_NAME_MAX,
};
pub use grant::{
    CLIENT_TIME_MAX_MS, CORES_MAX, DEFAULT_ENVIRONMENT, GrantRequest, GrantResponse, HostFacts,
    Instance, InvalidRequest, PoolKey, RawGrantRequest, VERSION_MAX_LEN,
};

/// Request bodies larger than this are refused with 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
