//! One grant decision over a pool of 1,000 held grants, and one agent step.

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use tenure_core::license::{License, Limits};
use tenure_core::manager::{HeldGrant, ManagerConfig, PoolView, grant};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};
use tenure_core::{GrantId, UnixMillis};

const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

fn name(s: &str) -> Name {
    Name::parse("bench", s).expect("name")
}

fn instance(host: usize) -> Instance {
    Instance {
        environment: name("production"),
        product: name("vdp"),
        hostname: Hostname::parse(&format!("host{host}.example.com")).expect("host"),
        port: 9999,
    }
}

fn fixture() -> (License, Vec<HeldGrant>, GrantRequest) {
    let mut products = BTreeMap::new();
    products.insert(
        name("vdp"),
        Limits {
            max_servers: Some(2_000),
            max_cores_per_server: Some(64),
            max_total_cores: Some(100_000),
            extra: BTreeMap::new(),
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(name("production"), products);
    let license = License {
        license_id: "bench".into(),
        licensee: "Bench".into(),
        issued_at: NOW,
        not_before: NOW,
        not_after: UnixMillis(NOW.0 + 86_400_000),
        max_managers: 2,
        grace_period_s: 432_000,
        limits,
        extra: BTreeMap::new(),
    };
    let held = (0..1_000)
        .map(|i| HeldGrant {
            grant_id: GrantId::from_random([i as u8; 16]),
            instance: instance(i),
            facts: HostFacts {
                cores: 8,
                ip: None,
                version: None,
            },
            granted_at: NOW,
            last_renewed: NOW,
            held_until: UnixMillis(NOW.0 + 433_000_000),
            client_skew_ms: None,
        })
        .collect();
    let req = GrantRequest {
        instance: instance(500),
        facts: HostFacts {
            cores: 8,
            ip: None,
            version: None,
        },
        client_time: Some(NOW),
    };
    (license, held, req)
}

fn grant_decision(c: &mut Criterion) {
    let (license, held, req) = fixture();
    let cfg = ManagerConfig::default();
    // What storage reads in the transaction: aggregates and the same-instance row.
    let view = PoolView::from_grants(&held, &req.instance, NOW);
    c.bench_function("grant decision, pool of 1000 held (aggregated view)", |b| {
        b.iter(|| {
            grant(
                &cfg,
                black_box(&license),
                black_box(&view),
                black_box(&req),
                NOW,
                GrantId::from_random([7; 16]),
            )
        })
    });
    c.bench_function(
        "grant decision incl. building the view from 1000 rows",
        |b| {
            b.iter(|| {
                let view = PoolView::from_grants(black_box(&held), &req.instance, NOW);
                grant(
                    &cfg,
                    &license,
                    &view,
                    &req,
                    NOW,
                    GrantId::from_random([7; 16]),
                )
            })
        },
    );
}

criterion_group!(benches, grant_decision);
criterion_main!(benches);
