use crate::error::ErrorCode;
use crate::names::Name;
use crate::time::UnixMillis;
use crate::wire::Instance;

/// Why a manager refuses a request. Each variant maps to one wire code, and its
/// message names the limit that failed so an operator can act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("the license expired at {}", crate::rfc3339::display(crate::UnixMillis(*not_after_ms)))]
    LicenseExpired { not_after_ms: i64 },
    #[error("the license is not valid before {}", crate::rfc3339::display(crate::UnixMillis(*not_before_ms)))]
    LicenseNotYetValid { not_before_ms: i64 },
    #[error("environment {environment:?} is not in the license")]
    EnvironmentNotLicensed { environment: Name },
    #[error("product {product:?} is not licensed in environment {environment:?}")]
    ProductNotLicensed { environment: Name, product: Name },
    #[error("max_servers is {limit} for {environment}/{product} and {held} are held")]
    ServersExceeded {
        environment: Name,
        product: Name,
        limit: u64,
        held: u64,
    },
    #[error(
        "max_cores_per_server is {limit} for {environment}/{product}; this server asked for {requested}"
    )]
    CoresPerServerExceeded {
        environment: Name,
        product: Name,
        limit: u64,
        requested: u64,
    },
    #[error(
        "max_total_cores is {limit} for {environment}/{product}; {held} are held and this server asked for {requested}"
    )]
    TotalCoresExceeded {
        environment: Name,
        product: Name,
        limit: u64,
        held: u64,
        requested: u64,
    },
    #[error("no such grant; request a new one")]
    UnknownGrant,
    #[error("this grant was revoked by an administrator")]
    Revoked,
    /// M3: a newer grant request for the same instance took its slot; the
    /// process holding this grant is the older one and must stop.
    #[error(
        "this grant was replaced: a newer grant request claimed the same instance ({instance}); \
         a restarted or second process with this hostname and port holds it now, so this one must stop"
    )]
    Replaced { instance: Instance },
    #[error("no such grant or instance")]
    NotFound,
}

impl Denial {
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::LicenseExpired { .. } => ErrorCode::LicenseExpired,
            // M7: not an expired license; the manager does not serve it yet.
            Self::LicenseNotYetValid { .. } => ErrorCode::LicenseNotYetValid,
            Self::EnvironmentNotLicensed { .. } => ErrorCode::EnvironmentNotLicensed,
            Self::ProductNotLicensed { .. } => ErrorCode::ProductNotLicensed,
            Self::ServersExceeded { .. } => ErrorCode::ServersExceeded,
            Self::CoresPerServerExceeded { .. } | Self::TotalCoresExceeded { .. } => {
                ErrorCode::CoresExceeded
            }
            Self::UnknownGrant => ErrorCode::UnknownGrant,
            Self::Revoked => ErrorCode::Revoked,
            Self::Replaced { .. } => ErrorCode::Replaced,
            Self::NotFound => ErrorCode::NotFound,
        }
    }

    pub(crate) fn license_window(
        not_before: UnixMillis,
        not_after: UnixMillis,
        now: UnixMillis,
    ) -> Option<Self> {
        if now < not_before {
            Some(Self::LicenseNotYetValid {
                not_before_ms: not_before.0,
            })
        } else if now >= not_after {
            Some(Self::LicenseExpired {
                not_after_ms: not_after.0,
            })
        } else {
            None
        }
    }
}
