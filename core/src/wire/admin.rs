use super::grant::{HostFacts, Instance, InvalidRequest, PoolKey};
use crate::GrantId;
use crate::names::{Hostname, Name};
use serde::{Deserialize, Serialize};

/// How a grant ended (M8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Released,
    Replaced,
    Revoked,
    GraceExceeded,
    LicenseExpired,
    /// An operator freed the slot (`POST /v1/admin/release`): the component
    /// is presumed gone, so a renewal of it is answered like one of a
    /// released grant.
    AdminReleased,
}

impl EndReason {
    pub const ALL: [EndReason; 6] = [
        Self::Released,
        Self::Replaced,
        Self::Revoked,
        Self::GraceExceeded,
        Self::LicenseExpired,
        Self::AdminReleased,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Replaced => "replaced",
            Self::Revoked => "revoked",
            Self::GraceExceeded => "grace_exceeded",
            Self::LicenseExpired => "license_expired",
            Self::AdminReleased => "admin_released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One row of usage history: a grant that ended (M8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub grant_id: GrantId,
    #[serde(flatten)]
    pub instance: Instance,
    #[serde(flatten)]
    pub facts: HostFacts,
    /// Storage time of the grant request.
    pub first_request_ms: i64,
    /// Storage time of the last successful renewal (or the grant).
    pub last_request_ms: i64,
    pub ended_ms: i64,
    pub end_reason: EndReason,
    /// The installed license's id when the grant ended; `None` in rows
    /// written before managers recorded it.
    #[serde(default)]
    pub license_id: Option<String>,
}

/// Whether a held grant's lease is fresh (`active`) or it has gone past
/// `lease_ttl` without a renewal and its component is presumably in grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Active,
    Grace,
}

/// A held grant as `GET /v1/grants` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    pub grant_id: GrantId,
    #[serde(flatten)]
    pub instance: Instance,
    #[serde(flatten)]
    pub facts: HostFacts,
    pub state: GrantState,
    pub granted_ms: i64,
    pub last_renewed_ms: i64,
    pub held_until_ms: i64,
    /// Component clock minus storage clock at the last request, if it sent one (T5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_skew_ms: Option<i64>,
}

/// Usage of one pool against its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUsage {
    pub environment: Name,
    pub product: Name,
    pub servers: u64,
    pub total_cores: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_servers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cores_per_server: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_cores: Option<u64>,
}

/// A manager in the registry (M6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerView {
    pub node_id: String,
    pub live: bool,
    pub serving: bool,
    pub last_seen_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<i64>,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub license_id: String,
    pub licensee: String,
    pub license_not_after_ms: i64,
    pub license_expires_in_s: u64,
    pub max_managers: u32,
    pub pools: Vec<PoolUsage>,
    pub managers: Vec<ManagerView>,
    pub server_time_ms: i64,
}

/// Body of `POST /v1/admin/release`: the instance whose grant to free.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

impl ReleaseRequest {
    pub fn from_json(body: &[u8]) -> Result<Self, InvalidRequest> {
        super::grant::object_from_json(body)
    }

    pub fn validate(&self) -> Result<Instance, InvalidRequest> {
        let environment = Name::parse(
            "environment",
            self.environment
                .as_deref()
                .unwrap_or(super::DEFAULT_ENVIRONMENT),
        )?;
        let product = Name::parse(
            "product",
            self.product
                .as_deref()
                .ok_or(InvalidRequest::Missing("product"))?,
        )?;
        let hostname = Hostname::parse(
            self.hostname
                .as_deref()
                .ok_or(InvalidRequest::Missing("hostname"))?,
        )?;
        let port_raw = self.port.ok_or(InvalidRequest::Missing("port"))?;
        let port = u16::try_from(port_raw)
            .ok()
            .filter(|p| *p >= 1)
            .ok_or(InvalidRequest::Port(port_raw))?;
        Ok(Instance {
            environment,
            product,
            hostname,
            port,
        })
    }
}

impl PoolKey {
    pub fn new(environment: Name, product: Name) -> Self {
        Self {
            environment,
            product,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reasons_use_protocol_spelling() {
        for r in EndReason::ALL {
            assert_eq!(
                serde_json::to_string(&r).expect("ser"),
                format!("\"{}\"", r.as_str())
            );
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn release_request_validates_like_a_grant() {
        let ok = ReleaseRequest::from_json(br#"{"product":"vdp","hostname":"H","port":1}"#)
            .and_then(|r| r.validate())
            .expect("valid");
        assert_eq!(ok.environment.as_str(), "production");
        assert_eq!(ok.hostname.as_str(), "h");
        let bad = ReleaseRequest::from_json(br#"{"product":"vdp","hostname":"h","port":0}"#)
            .and_then(|r| r.validate());
        assert_eq!(bad, Err(InvalidRequest::Port(0)));
    }
}
