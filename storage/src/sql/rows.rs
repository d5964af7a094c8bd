//! Rows as the tables hold them, and their conversion to and from core types.
//! Decoding checks every value: a row that breaks a rule is `Corrupt`.

use super::schema::{clock_steps, grants, license, managers, usage_history};
use crate::port::{StorageError, StoredLicense};
use diesel::prelude::*;
use std::net::IpAddr;
use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, RecordedStep, Step};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{EndReason, HostFacts, Instance, UsageRow};
use tenure_core::{GrantId, UnixMillis};

fn corrupt(table: &str, what: impl std::fmt::Display) -> StorageError {
    StorageError::corrupt(format!("{table}: {what}"))
}

fn decode_instance(
    table: &str,
    environment: &str,
    product: &str,
    hostname: &str,
    port: i32,
) -> Result<Instance, StorageError> {
    Ok(Instance {
        environment: Name::parse("environment", environment).map_err(|e| corrupt(table, e))?,
        product: Name::parse("product", product).map_err(|e| corrupt(table, e))?,
        hostname: Hostname::parse(hostname).map_err(|e| corrupt(table, e))?,
        port: u16::try_from(port)
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| corrupt(table, format!("port {port} out of range")))?,
    })
}

fn decode_facts(
    table: &str,
    cores: i32,
    ip: Option<&str>,
    version: Option<&str>,
) -> Result<HostFacts, StorageError> {
    Ok(HostFacts {
        cores: u32::try_from(cores)
            .map_err(|_| corrupt(table, format!("cores {cores} out of range")))?,
        ip: ip
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| corrupt(table, format!("ip {s:?} is not an address")))
            })
            .transpose()?,
        version: version.map(std::sync::Arc::from),
    })
}

fn decode_id(table: &str, s: &str) -> Result<GrantId, StorageError> {
    GrantId::parse(s.trim_end()).map_err(|_| corrupt(table, format!("grant_id {s:?}")))
}

fn port_i32(p: u16) -> i32 {
    i32::from(p)
}

/// The cores column of a row about to be written. The wire admits 1 to
/// 4096 cores, so a count that does not fit is a fault in this binary, not
/// in the database.
fn cores_i32(table: &str, c: u32) -> Result<i32, StorageError> {
    i32::try_from(c)
        .map_err(|_| StorageError::internal(format!("{table}: cores {c} to write out of range")))
}

#[derive(Debug, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub(crate) struct GrantRow {
    pub grant_id: String,
    pub environment: String,
    pub product: String,
    pub hostname: String,
    pub port: i32,
    pub cores: i32,
    pub ip: Option<String>,
    pub version: Option<String>,
    pub granted_at: i64,
    pub last_renewed: i64,
    pub held_until: i64,
    pub client_skew_ms: Option<i64>,
}

impl GrantRow {
    pub fn encode(g: &HeldGrant) -> Result<Self, StorageError> {
        Ok(Self {
            grant_id: g.grant_id.to_string(),
            environment: g.instance.environment.as_str().to_owned(),
            product: g.instance.product.as_str().to_owned(),
            hostname: g.instance.hostname.as_str().to_owned(),
            port: port_i32(g.instance.port),
            cores: cores_i32("grants", g.facts.cores)?,
            ip: g.facts.ip.map(|ip| ip.to_string()),
            version: g.facts.version.as_deref().map(str::to_owned),
            granted_at: g.granted_at.0,
            last_renewed: g.last_renewed.0,
            held_until: g.held_until.0,
            client_skew_ms: g.client_skew_ms,
        })
    }

    pub fn decode(self) -> Result<HeldGrant, StorageError> {
        const T: &str = "grants";
        Ok(HeldGrant {
            grant_id: decode_id(T, &self.grant_id)?,
            instance: decode_instance(
                T,
                &self.environment,
                &self.product,
                &self.hostname,
                self.port,
            )?,
            facts: decode_facts(T, self.cores, self.ip.as_deref(), self.version.as_deref())?,
            granted_at: UnixMillis(self.granted_at),
            last_renewed: UnixMillis(self.last_renewed),
            held_until: UnixMillis(self.held_until),
            client_skew_ms: self.client_skew_ms,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_history)]
pub(crate) struct UsageRowDb {
    pub grant_id: String,
    pub environment: String,
    pub product: String,
    pub hostname: String,
    pub port: i32,
    pub cores: i32,
    pub ip: Option<String>,
    pub version: Option<String>,
    pub first_request_ms: i64,
    pub last_request_ms: i64,
    pub ended_ms: i64,
    pub end_reason: String,
    pub license_id: Option<String>,
}

impl UsageRowDb {
    pub fn encode(u: &UsageRow) -> Result<Self, StorageError> {
        Ok(Self {
            grant_id: u.grant_id.to_string(),
            environment: u.instance.environment.as_str().to_owned(),
            product: u.instance.product.as_str().to_owned(),
            hostname: u.instance.hostname.as_str().to_owned(),
            port: port_i32(u.instance.port),
            cores: cores_i32("usage_history", u.facts.cores)?,
            ip: u.facts.ip.map(|ip| ip.to_string()),
            version: u.facts.version.as_deref().map(str::to_owned),
            first_request_ms: u.first_request_ms,
            last_request_ms: u.last_request_ms,
            ended_ms: u.ended_ms,
            end_reason: u.end_reason.as_str().to_owned(),
            license_id: u.license_id.clone(),
        })
    }

    pub fn decode(self) -> Result<UsageRow, StorageError> {
        const T: &str = "usage_history";
        Ok(UsageRow {
            grant_id: decode_id(T, &self.grant_id)?,
            instance: decode_instance(
                T,
                &self.environment,
                &self.product,
                &self.hostname,
                self.port,
            )?,
            facts: decode_facts(T, self.cores, self.ip.as_deref(), self.version.as_deref())?,
            first_request_ms: self.first_request_ms,
            last_request_ms: self.last_request_ms,
            ended_ms: self.ended_ms,
            end_reason: decode_reason(&self.end_reason)?,
            license_id: self.license_id,
        })
    }
}

fn decode_reason(s: &str) -> Result<EndReason, StorageError> {
    EndReason::parse(s).ok_or_else(|| corrupt("usage_history", format!("end_reason {s:?}")))
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = managers)]
pub(crate) struct ManagerRow {
    pub node_id: String,
    pub live_since: i64,
    pub last_seen: i64,
    // Written as NULL when absent, not skipped.
    #[diesel(treat_none_as_null = true)]
    pub clock_offset_ms: Option<i64>,
    #[diesel(treat_none_as_null = true)]
    pub instance: Option<String>,
}

impl ManagerRow {
    pub fn encode(r: &ManagerRecord) -> Self {
        Self {
            node_id: r.node_id.clone(),
            live_since: r.live_since.0,
            last_seen: r.last_seen.0,
            clock_offset_ms: r.clock_offset_ms,
            instance: r.instance.clone(),
        }
    }

    pub fn decode(self) -> ManagerRecord {
        ManagerRecord {
            node_id: self.node_id,
            live_since: UnixMillis(self.live_since),
            last_seen: UnixMillis(self.last_seen),
            clock_offset_ms: self.clock_offset_ms,
            instance: self.instance,
        }
    }
}

/// A row of `clock_steps` (M9).
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = clock_steps)]
pub(crate) struct StepRow {
    pub node_id: String,
    pub seen_ms: i64,
    pub size_ms: i64,
    pub until_ms: i64,
}

impl StepRow {
    pub fn encode(r: &RecordedStep) -> Self {
        Self {
            node_id: r.node_id.clone(),
            seen_ms: r.step.seen_at.0,
            size_ms: r.step.size_ms,
            until_ms: r.until.0,
        }
    }

    pub fn decode(self) -> RecordedStep {
        RecordedStep {
            node_id: self.node_id,
            step: Step {
                size_ms: self.size_ms,
                seen_at: UnixMillis(self.seen_ms),
            },
            until: UnixMillis(self.until_ms),
        }
    }
}

/// The single row of `clock_state`.
pub(crate) const CLOCK_ROW: i32 = 1;

/// The single row of `license`.
pub(crate) const LICENSE_ROW: i32 = 1;

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = license)]
pub(crate) struct LicenseRow {
    pub id: i32,
    pub license_id: String,
    pub issued_at: i64,
    pub armoured: String,
    pub installed_at: i64,
}

impl LicenseRow {
    pub fn encode(l: &StoredLicense) -> Self {
        Self {
            id: LICENSE_ROW,
            license_id: l.license_id.clone(),
            issued_at: l.issued_at.0,
            armoured: l.armoured.clone(),
            installed_at: l.installed_at.0,
        }
    }

    pub fn decode(self) -> StoredLicense {
        StoredLicense {
            license_id: self.license_id,
            issued_at: UnixMillis(self.issued_at),
            armoured: self.armoured,
            installed_at: UnixMillis(self.installed_at),
        }
    }
}
