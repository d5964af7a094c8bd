//! Test fixtures shared by the core's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use tenure_core::license::{License, Limits};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};
use tenure_core::{GrantId, UnixMillis};

pub const T0: UnixMillis = UnixMillis(1_800_000_000_000);

pub fn name(s: &str) -> Name {
    Name::parse("test", s).expect("test name")
}

pub fn license(limits: &[(&str, &str, Limits)], grace_s: u64) -> License {
    let mut map: BTreeMap<Name, BTreeMap<Name, Limits>> = BTreeMap::new();
    for (env, product, l) in limits {
        map.entry(name(env))
            .or_default()
            .insert(name(product), l.clone());
    }
    License {
        license_id: "lic-test".into(),
        licensee: "Test Co".into(),
        issued_at: T0,
        not_before: UnixMillis(T0.0 - 86_400_000),
        not_after: UnixMillis(T0.0 + 365 * 86_400_000),
        max_managers: 2,
        grace_period_s: grace_s,
        limits: map,
        extra: BTreeMap::new(),
    }
}

pub fn limits(servers: Option<u64>, per: Option<u64>, total: Option<u64>) -> Limits {
    Limits {
        max_servers: servers,
        max_cores_per_server: per,
        max_total_cores: total,
        extra: BTreeMap::new(),
    }
}

pub fn request(env: &str, product: &str, host: &str, port: u16, cores: u32) -> GrantRequest {
    GrantRequest {
        instance: Instance {
            environment: name(env),
            product: name(product),
            hostname: Hostname::parse(host).expect("test host"),
            port,
        },
        facts: HostFacts {
            cores,
            ip: None,
            version: None,
        },
        client_time: None,
    }
}

pub fn id(n: u64) -> GrantId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    GrantId::from_random(b)
}

/// The manager's reference store, shared with the `manager_ops` fuzz target.
pub use tenure_testkit::models::manager::Applied;
