//! The smol agent driver keeps a grant alive across a failover between the
//! two binaries: two managers on one PostgreSQL database, the driver given
//! both URLs (A6), the first killed with SIGKILL.

mod support;

use smol::Timer;
use smol::future::FutureExt;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;
use tenure_core::agent::Event;
use tenure_smol::{Agent, AgentOptions};

const TIMING: [&str; 4] = ["--renew-every", "1s", "--lease-ttl", "3s"];

fn request(host: &str) -> tenure_core::wire::GrantRequest {
    tenure_core::wire::RawGrantRequest {
        product: Some("vdp".into()),
        hostname: Some(host.into()),
        port: Some(9999),
        cores: Some(8),
        ..Default::default()
    }
    .validate()
    .expect("valid request")
}

async fn next(agent: &mut Agent, limit: Duration) -> Option<Event> {
    agent
        .next_event()
        .or(async {
            Timer::after(limit).await;
            None
        })
        .await
}

fn failover(first_bin: &Path, second_bin: &Path, db: &PgDb, host: &str) {
    let fx = Fixture::new(2, 20);
    let mut first = Server::start(
        first_bin,
        &fx,
        &db.url,
        &[&TIMING[..], &["--node-id", "first"]].concat(),
    );
    let second = Server::start(
        second_bin,
        &fx,
        &db.url,
        &[&TIMING[..], &["--node-id", "second"]].concat(),
    );
    let mut options = AgentOptions::new(vec![first.url.clone(), second.url.clone()], request(host));
    options.request_timeout = Duration::from_secs(2);
    options.seed = Some(3);
    smol::block_on(async {
        let mut agent = Agent::start(options).expect("start");
        let started = next(&mut agent, Duration::from_secs(10)).await;
        let Some(Event::Started { grant_id }) = started else {
            panic!("expected Started, got {started:?}");
        };
        // A few renewals through the first manager.
        let mut renewed = 0;
        while renewed < 2 {
            match next(&mut agent, Duration::from_secs(5)).await {
                Some(Event::Renewed { .. }) => renewed += 1,
                other => panic!("before the failover: {other:?}"),
            }
        }
        first.signal(nix::sys::signal::Signal::SIGKILL);
        first.wait_exit(Duration::from_secs(5)).expect("killed");
        let killed = Instant::now();
        // Through the second one, for several lease lifetimes: no MustStop.
        let mut after = 0;
        while killed.elapsed() < Duration::from_secs(10) {
            match next(&mut agent, Duration::from_secs(3)).await {
                Some(Event::Renewed { grant_id: g }) | Some(Event::Recovered { grant_id: g }) => {
                    assert_eq!(g, grant_id, "the same grant lives on");
                    after += 1;
                }
                Some(Event::GraceEntered { .. }) => {}
                other => panic!("after the failover: {other:?}"),
            }
        }
        assert!(after >= 5, "only {after} renewals after the failover");
        let held = call(second.addr, "GET", "/v1/grants", &[ADMIN], b"");
        assert_eq!(held.status, 200);
        assert!(
            held.text().contains(&grant_id.to_string()),
            "{}",
            held.text()
        );
        let summary = agent.stop().await;
        assert_eq!((summary.releases_sent, summary.releases_confirmed), (1, 1));
    });
}

#[test]
fn failover_from_tokio_to_smol() {
    let Some(tokio_bin) = tokio_bin() else { return };
    let Some(db) = PgDb::create() else { return };
    failover(&tokio_bin, &smol_bin(), &db, "fo1.example.com");
}

#[test]
fn failover_from_smol_to_tokio() {
    let Some(tokio_bin) = tokio_bin() else { return };
    let Some(db) = PgDb::create() else { return };
    failover(&smol_bin(), &tokio_bin, &db, "fo2.example.com");
}
