use std::collections::BTreeMap;
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, VerifyingKey, sign};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};

pub fn vendor() -> SecretKey {
    SecretKey::from_seed([42; 32])
}

pub fn trusted() -> Vec<VerifyingKey> {
    vec![vendor().verifying_key()]
}

pub fn name(s: &str) -> Name {
    Name::parse("test", s).expect("test name")
}

pub fn limits(servers: Option<u64>, per: Option<u64>, total: Option<u64>) -> Limits {
    Limits {
        max_servers: servers,
        max_cores_per_server: per,
        max_total_cores: total,
        extra: BTreeMap::new(),
    }
}

/// A license valid from a day before `now` until `not_after`.
pub fn license(
    id: &str,
    issued_at: UnixMillis,
    now: UnixMillis,
    not_after: UnixMillis,
    grace_s: u64,
    max_managers: u32,
    pools: &[(&str, &str, Limits)],
) -> License {
    let mut map: BTreeMap<Name, BTreeMap<Name, Limits>> = BTreeMap::new();
    for (env, product, l) in pools {
        map.entry(name(env))
            .or_default()
            .insert(name(product), l.clone());
    }
    License {
        license_id: id.into(),
        licensee: "Conformance Test Co".into(),
        issued_at,
        not_before: UnixMillis(now.0 - 86_400_000),
        not_after,
        max_managers,
        grace_period_s: grace_s,
        limits: map,
        extra: BTreeMap::new(),
    }
}

pub fn signed(l: &License) -> String {
    sign(l, &vendor()).expect("sign test license")
}

pub fn request(product: &str, host: &str, port: u16, cores: u32) -> GrantRequest {
    GrantRequest {
        instance: Instance {
            environment: name("production"),
            product: name(product),
            hostname: Hostname::parse(host).expect("test host"),
            port,
        },
        facts: HostFacts {
            cores,
            ip: None,
            version: Some("1.0.0".into()),
        },
        client_time: None,
    }
}
