//! The wire error codes of docs/protocol.md section 6, each mapped once to a status.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    UnknownGrant,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    EnvironmentNotLicensed,
    ProductNotLicensed,
    ServersExceeded,
    CoresExceeded,
    LicenseExpired,
    Revoked,
    StorageUnavailable,
    TooManyManagers,
    Overloaded,
    /// Another process claimed the same instance and holds it now (M3): final.
    Replaced,
    /// The license's `not_before` is still ahead of the storage clock (M7).
    LicenseNotYetValid,
    /// A valid token whose role may not do this (§6.2).
    Forbidden,
    /// The manager broke one of its own rules (a fault in it, not in the
    /// request or in storage): a retry may succeed.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 20] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::UnknownGrant,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::EnvironmentNotLicensed,
        Self::ProductNotLicensed,
        Self::ServersExceeded,
        Self::CoresExceeded,
        Self::LicenseExpired,
        Self::Revoked,
        Self::StorageUnavailable,
        Self::TooManyManagers,
        Self::Overloaded,
        Self::Replaced,
        Self::LicenseNotYetValid,
        Self::Forbidden,
        Self::Internal,
    ];

    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::UnknownGrant | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::EnvironmentNotLicensed
            | Self::ProductNotLicensed
            | Self::ServersExceeded
            | Self::CoresExceeded
            | Self::LicenseExpired
            | Self::Revoked
            | Self::Replaced
            | Self::Forbidden => 403,
            Self::Internal => 500,
            Self::StorageUnavailable
            | Self::TooManyManagers
            | Self::Overloaded
            | Self::LicenseNotYetValid => 503,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::UnknownGrant => "unknown_grant",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::EnvironmentNotLicensed => "environment_not_licensed",
            Self::ProductNotLicensed => "product_not_licensed",
            Self::ServersExceeded => "servers_exceeded",
            Self::CoresExceeded => "cores_exceeded",
            Self::LicenseExpired => "license_expired",
            Self::Revoked => "revoked",
            Self::StorageUnavailable => "storage_unavailable",
            Self::TooManyManagers => "too_many_managers",
            Self::Overloaded => "overloaded",
            Self::Replaced => "replaced",
            Self::LicenseNotYetValid => "license_not_yet_valid",
            Self::Forbidden => "forbidden",
            Self::Internal => "internal",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// 503s tell clients and load balancers to back off (section 6).
    pub const fn retry_after_s(self) -> Option<u32> {
        match self {
            Self::StorageUnavailable => Some(2),
            Self::TooManyManagers => Some(10),
            Self::Overloaded => Some(1),
            // Not yet valid until an instant the manager knows; a minute keeps
            // a waiting fleet from polling hard.
            Self::LicenseNotYetValid => Some(60),
            _ => None,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_json_and_text() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let status = code.http_status();
            assert!((400..600).contains(&status));
            assert_eq!(code.retry_after_s().is_some(), status == 503, "{code}");
        }
    }
}
