//! One grant decision over a pool of 1,000 held grants, and one agent step.

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;
use tenure_core::agent::{Agent, AgentConfig, Response};
use tenure_core::license::{License, Limits};
use tenure_core::manager::{HeldGrant, ManagerConfig, PoolView, grant};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, GrantResponse, HostFacts, Instance};
use tenure_core::{GrantId, Now, UnixMillis};

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

fn licensed_agent() -> (Agent, Now) {
    let (_, _, req) = fixture();
    let start = Now::new(Duration::ZERO, NOW);
    let mut agent = Agent::new(AgentConfig::new(req, 1), start, 7);
    let t = agent.poll_transmit().expect("first grant request");
    let at = Now::new(Duration::from_millis(5), UnixMillis(NOW.0 + 5));
    agent.handle_response(at, t.id, Ok(Response::Granted(granted())));
    while agent.poll_event().is_some() {}
    (agent, at)
}

fn agent_step(c: &mut Criterion) {
    let (mut agent, at) = licensed_agent();
    let mut ms = 5u64;
    // A wake-up with nothing due: the common step of a licensed component.
    c.bench_function(
        "agent step: handle_timeout + poll loop (nothing due)",
        |b| {
            b.iter(|| {
                ms += 1;
                let now = Now::new(
                    Duration::from_millis(ms % 200_000),
                    UnixMillis(at.wall.0 + (ms % 200_000) as i64),
                );
                agent.handle_timeout(black_box(now));
                while agent.poll_transmit().is_some() {}
                while agent.poll_event().is_some() {}
                black_box(agent.poll_timeout())
            })
        },
    );
    // A renewal answered: the response goes in, events and the next timer come out.
    c.bench_function("agent renewal: handle_response + poll loop", |b| {
        b.iter_batched(
            renewal_in_flight,
            |(mut agent, at, id)| {
                agent.handle_response(at, id, Ok(Response::Granted(granted())));
                while agent.poll_event().is_some() {}
                black_box(agent.poll_timeout())
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

fn granted() -> GrantResponse {
    GrantResponse {
        grant_id: GrantId::from_random([1; 16]),
        lease_ttl_s: 900,
        renew_every_s: 300,
        grace_period_s: 432_000,
        server_time_ms: NOW.0,
        license_id: "bench".into(),
        license_expires_in_s: 86_400,
    }
}

/// A licensed agent driven timer by timer until its renewal request is out.
fn renewal_in_flight() -> (Agent, Now, tenure_core::agent::RequestId) {
    let (mut agent, mut at) = licensed_agent();
    for _ in 0..100 {
        let Some(due) = agent.poll_timeout() else {
            break;
        };
        let step = due.saturating_sub(at.mono);
        at = Now::new(due, UnixMillis(at.wall.0 + step.as_millis() as i64));
        agent.handle_timeout(at);
        if let Some(t) = agent.poll_transmit() {
            return (agent, at, t.id);
        }
    }
    panic!("no renewal within 100 timers");
}

criterion_group!(benches, grant_decision, agent_step);
criterion_main!(benches);
