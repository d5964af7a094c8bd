use crate::error::ErrorCode;
use crate::names::{Hostname, Name, NameError};
use crate::time::UnixMillis;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;

pub const DEFAULT_ENVIRONMENT: &str = "production";
pub const CORES_MAX: u32 = 4096;
pub const VERSION_MAX_LEN: usize = 64;
/// 9999-12-31T23:59:59.999Z: beyond this a client time is garbage, not skew.
pub const CLIENT_TIME_MAX_MS: i64 = 253_402_300_799_999;

/// A pool: the unit that license limits apply to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PoolKey {
    pub environment: Name,
    pub product: Name,
}

/// A component's identity. Two requests with the same instance are the same
/// server (M3), whatever their host facts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Instance {
    pub environment: Name,
    pub product: Name,
    pub hostname: Hostname,
    pub port: u16,
}

impl Instance {
    pub fn pool(&self) -> PoolKey {
        PoolKey {
            environment: self.environment.clone(),
            product: self.product.clone(),
        }
    }
}

/// As field=value pairs: a hostname may hold `:`, so `host:port` could be
/// read two ways, and operators search logs and usage rows by these names.
impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "environment={} product={} hostname={} port={}",
            self.environment, self.product, self.hostname, self.port
        )
    }
}

/// What a component tells the manager about its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub cores: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Shared: it is copied into every renewal's view of the grant.
    pub version: Option<Arc<str>>,
}

/// A grant request as JSON gives it: every field optional and loosely typed so
/// that validation can say exactly what is wrong. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawGrantRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_time_ms: Option<i64>,
}

/// A validated grant request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub instance: Instance,
    pub facts: HostFacts,
    pub client_time: Option<UnixMillis>,
}

/// Why a request body is refused; always 400 `bad_request` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    #[error("request body is not valid JSON for this call: {0}")]
    Json(String),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("port {0} is out of range; it must be 1 to 65535")]
    Port(i64),
    #[error("cores {0} is out of range; it must be 1 to 4096")]
    Cores(i64),
    #[error("ip {0:?} is not an IPv4 or IPv6 address")]
    Ip(String),
    #[error("version must be 1 to 64 characters of [A-Za-z0-9._:+-]")]
    Version,
    #[error("client_time_ms {0} is out of range; it must be 0 to {CLIENT_TIME_MAX_MS}")]
    ClientTime(i64),
}

impl InvalidRequest {
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

impl RawGrantRequest {
    /// Parses a JSON body. The caller has already bounded its size.
    pub fn from_json(body: &[u8]) -> Result<Self, InvalidRequest> {
        object_from_json(body)
    }

    pub fn validate(&self) -> Result<GrantRequest, InvalidRequest> {
        let environment = Name::parse(
            "environment",
            self.environment.as_deref().unwrap_or(DEFAULT_ENVIRONMENT),
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
        let cores_raw = self.cores.ok_or(InvalidRequest::Missing("cores"))?;
        let cores = u32::try_from(cores_raw)
            .ok()
            .filter(|c| (1..=CORES_MAX).contains(c))
            .ok_or(InvalidRequest::Cores(cores_raw))?;
        let ip = match &self.ip {
            None => None,
            Some(s) => Some(
                s.parse::<IpAddr>()
                    .map_err(|_| InvalidRequest::Ip(truncated(s)))?,
            ),
        };
        let version = match &self.version {
            None => None,
            Some(v) if valid_version(v) => Some(Arc::from(v.as_str())),
            Some(_) => return Err(InvalidRequest::Version),
        };
        let client_time = match self.client_time_ms {
            None => None,
            Some(t) if (0..=CLIENT_TIME_MAX_MS).contains(&t) => Some(UnixMillis(t)),
            Some(t) => return Err(InvalidRequest::ClientTime(t)),
        };
        Ok(GrantRequest {
            instance: Instance {
                environment,
                product,
                hostname,
                port,
            },
            facts: HostFacts { cores, ip, version },
            client_time,
        })
    }
}

impl GrantRequest {
    /// The body an agent sends; `validate` of its parse gives `self` back.
    pub fn to_raw(&self) -> RawGrantRequest {
        RawGrantRequest {
            environment: Some(self.instance.environment.to_string()),
            product: Some(self.instance.product.to_string()),
            hostname: Some(self.instance.hostname.to_string()),
            port: Some(i64::from(self.instance.port)),
            ip: self.facts.ip.map(|ip| ip.to_string()),
            cores: Some(i64::from(self.facts.cores)),
            version: self.facts.version.as_deref().map(str::to_owned),
            client_time_ms: self.client_time.map(|t| t.0),
        }
    }
}

/// Parses a JSON object. serde would also read a struct from an array; a body
/// that is not an object is a client bug worth naming.
pub(crate) fn object_from_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, InvalidRequest> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body).map_err(|e| InvalidRequest::Json(e.to_string())),
        _ => Err(InvalidRequest::Json("expected a JSON object".into())),
    }
}

fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= VERSION_MAX_LEN
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '+' | '-'))
}

/// Keeps error messages bounded when echoing attacker-controlled text.
fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Body of 201 (grant) and 200 (renew). Every duration is relative (T1):
/// `server_time_ms` is informational and decides nothing on the component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantResponse {
    pub grant_id: crate::GrantId,
    pub lease_ttl_s: u64,
    pub renew_every_s: u64,
    pub grace_period_s: u64,
    pub server_time_ms: i64,
    pub license_id: String,
    pub license_expires_in_s: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RawGrantRequest {
        RawGrantRequest {
            environment: None,
            product: Some("vdp".into()),
            hostname: Some("VDP1.example.com".into()),
            port: Some(9999),
            ip: Some("10.0.0.5".into()),
            cores: Some(8),
            version: Some("9.1.0".into()),
            client_time_ms: Some(1_763_856_000_000),
        }
    }

    #[test]
    fn example_from_the_protocol_parses() {
        let body =
            br#"{"environment": "production", "product": "vdp", "hostname": "vdp1.example.com",
            "port": 9999, "ip": "10.0.0.5", "cores": 8, "version": "9.1.0",
            "client_time_ms": 1763856000000, "future_field": [1,2]}"#;
        let req = RawGrantRequest::from_json(body).and_then(|r| r.validate());
        let req = req.expect("valid");
        assert_eq!(req.instance.port, 9999);
        assert_eq!(req.facts.cores, 8);
        assert_eq!(req.to_raw().validate(), Ok(req));
    }

    #[test]
    fn environment_defaults_and_hostname_lowers() {
        let req = base().validate().expect("valid");
        assert_eq!(req.instance.environment.as_str(), "production");
        assert_eq!(req.instance.hostname.as_str(), "vdp1.example.com");
        assert_eq!(
            req.instance.to_string(),
            "environment=production product=vdp hostname=vdp1.example.com port=9999"
        );
    }

    #[test]
    fn port_bounds() {
        for (p, ok) in [
            (0, false),
            (1, true),
            (2, true),
            (65534, true),
            (65535, true),
            (65536, false),
            (-1, false),
        ] {
            let r = RawGrantRequest {
                port: Some(p),
                ..base()
            }
            .validate();
            assert_eq!(r.is_ok(), ok, "port {p}");
        }
    }

    #[test]
    fn cores_bounds() {
        for (c, ok) in [
            (0, false),
            (1, true),
            (2, true),
            (4095, true),
            (4096, true),
            (4097, false),
            (-3, false),
        ] {
            let r = RawGrantRequest {
                cores: Some(c),
                ..base()
            }
            .validate();
            assert_eq!(r.is_ok(), ok, "cores {c}");
        }
    }

    #[test]
    fn name_bounds_apply_to_every_name_field() {
        for len in [127usize, 128] {
            let n = "x".repeat(len);
            let r = RawGrantRequest {
                environment: Some(n.clone()),
                product: Some(n.clone()),
                hostname: Some(n),
                ..base()
            };
            assert!(r.validate().is_ok(), "{len}");
        }
        let long = "x".repeat(129);
        for r in [
            RawGrantRequest {
                environment: Some(long.clone()),
                ..base()
            },
            RawGrantRequest {
                product: Some(long.clone()),
                ..base()
            },
            RawGrantRequest {
                hostname: Some(long.clone()),
                ..base()
            },
            RawGrantRequest {
                product: Some(String::new()),
                ..base()
            },
            RawGrantRequest {
                hostname: Some("a b".into()),
                ..base()
            },
        ] {
            assert!(matches!(r.validate(), Err(InvalidRequest::Name(_))));
        }
    }

    #[test]
    fn optional_fields_are_checked_when_present() {
        assert!(
            RawGrantRequest {
                ip: None,
                version: None,
                client_time_ms: None,
                ..base()
            }
            .validate()
            .is_ok()
        );
        assert!(
            RawGrantRequest {
                ip: Some("::1".into()),
                ..base()
            }
            .validate()
            .is_ok()
        );
        assert!(matches!(
            RawGrantRequest {
                ip: Some("10.0.0.256".into()),
                ..base()
            }
            .validate(),
            Err(InvalidRequest::Ip(_))
        ));
        let v64 = "1".repeat(64);
        assert!(
            RawGrantRequest {
                version: Some(v64),
                ..base()
            }
            .validate()
            .is_ok()
        );
        let v65 = "1".repeat(65);
        assert_eq!(
            RawGrantRequest {
                version: Some(v65),
                ..base()
            }
            .validate(),
            Err(InvalidRequest::Version)
        );
        for (t, ok) in [
            (-1, false),
            (0, true),
            (CLIENT_TIME_MAX_MS, true),
            (CLIENT_TIME_MAX_MS + 1, false),
        ] {
            let r = RawGrantRequest {
                client_time_ms: Some(t),
                ..base()
            }
            .validate();
            assert_eq!(r.is_ok(), ok, "client time {t}");
        }
    }

    #[test]
    fn missing_and_malformed() {
        assert_eq!(
            RawGrantRequest {
                product: None,
                ..base()
            }
            .validate(),
            Err(InvalidRequest::Missing("product"))
        );
        assert_eq!(
            RawGrantRequest {
                hostname: None,
                ..base()
            }
            .validate(),
            Err(InvalidRequest::Missing("hostname"))
        );
        assert_eq!(
            RawGrantRequest {
                port: None,
                ..base()
            }
            .validate(),
            Err(InvalidRequest::Missing("port"))
        );
        assert_eq!(
            RawGrantRequest {
                cores: None,
                ..base()
            }
            .validate(),
            Err(InvalidRequest::Missing("cores"))
        );
        for body in [
            &b"{"[..],
            b"[]",
            b"null",
            b"\"x\"",
            br#"{"port": "80"}"#,
            b"",
            b"\xff",
        ] {
            assert!(matches!(
                RawGrantRequest::from_json(body),
                Err(InvalidRequest::Json(_))
            ));
        }
    }
}
