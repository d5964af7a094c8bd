//! The signed content of a license (docs/protocol.md section 2).

use crate::names::Name;
use crate::time::UnixMillis;
use crate::wire::PoolKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_GRACE_PERIOD_S: u64 = 432_000;

/// Fields a newer vendor tool may add; kept so a re-serialised payload keeps them.
pub type Extra = BTreeMap<String, serde_json::Value>;

/// Limits of one environment and product; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_servers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cores_per_server: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_cores: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The license payload. Times are RFC 3339 on the wire and `UnixMillis` here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct License {
    pub license_id: String,
    pub licensee: String,
    #[serde(with = "crate::rfc3339::serde_millis")]
    pub issued_at: UnixMillis,
    #[serde(with = "crate::rfc3339::serde_millis")]
    pub not_before: UnixMillis,
    #[serde(with = "crate::rfc3339::serde_millis")]
    pub not_after: UnixMillis,
    #[serde(default = "one")]
    pub max_managers: u32,
    #[serde(default = "default_grace")]
    pub grace_period_s: u64,
    /// environment -> product -> limits
    pub limits: BTreeMap<Name, BTreeMap<Name, Limits>>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn one() -> u32 {
    1
}

fn default_grace() -> u64 {
    DEFAULT_GRACE_PERIOD_S
}

impl License {
    pub fn limits_for(&self, pool: &PoolKey) -> Option<&Limits> {
        self.limits_of(&pool.environment, &pool.product)
    }

    pub fn limits_of(&self, environment: &Name, product: &Name) -> Option<&Limits> {
        self.limits.get(environment)?.get(product)
    }

    pub fn grace_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.grace_period_s)
    }

    pub fn has_environment(&self, environment: &Name) -> bool {
        self.limits.contains_key(environment)
    }
}
