//! The agent keeps a grant alive across a failover between the two server
//! binaries: two managers on one PostgreSQL database, the agent given both
//! URLs (A6), the first killed with SIGKILL. Each direction runs the agent
//! on the other runtime.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::cases::within;
use support::*;
use tenure_agent::runtime::{SmolRuntime, TokioRuntime};
use tenure_agent::{Agent, AgentOptions, Event, Runtime};
use tenure_testkit::{Need, trial};

const TIMING: [&str; 4] = ["--renew-every", "1s", "--lease-ttl", "3s"];

async fn next(rt: &dyn Runtime, agent: &mut Agent, limit: Duration) -> Option<Event> {
    within(rt, limit, agent.next_event()).await.flatten()
}

fn managers(first_bin: &Path, second_bin: &Path, fx: &Fixture, db: &PgDb) -> (Server, Server) {
    let start = |bin: &Path, node: &str| {
        let extra = [&TIMING[..], &["--node-id", node]].concat();
        Server::start(bin, fx, "127.0.0.1:0", &db.url, &extra)
    };
    // One at a time: the first migrates the fresh database.
    let first = start(first_bin, "first");
    (first, start(second_bin, "second"))
}

async fn failover(rt: Arc<dyn Runtime>, mut first: Server, second: Server, host: &str) {
    let mut options = AgentOptions::new(vec![first.url.clone(), second.url.clone()], request(host));
    options.request_timeout = Duration::from_secs(2);
    options.seed = Some(3);
    let mut agent = Agent::start_on(rt.clone(), options).expect("start");
    let started = next(&*rt, &mut agent, Duration::from_secs(10)).await;
    let Some(Event::Started { grant_id }) = started else {
        panic!("expected Started, got {started:?}");
    };
    // A few renewals through the first manager.
    let mut renewed = 0;
    while renewed < 2 {
        match next(&*rt, &mut agent, Duration::from_secs(5)).await {
            Some(Event::Renewed { .. }) => renewed += 1,
            other => panic!("before the failover: {other:?}"),
        }
    }
    first.kill();
    let killed = Instant::now();
    // Through the second one, for several lease lifetimes: no MustStop.
    let mut after = 0;
    while killed.elapsed() < Duration::from_secs(10) {
        match next(&*rt, &mut agent, Duration::from_secs(3)).await {
            Some(Event::Renewed { grant_id: g }) | Some(Event::Recovered { grant_id: g }) => {
                assert_eq!(g, grant_id, "the same grant lives on");
                after += 1;
            }
            Some(Event::GraceEntered { .. }) => {}
            other => panic!("after the failover: {other:?}"),
        }
    }
    assert!(after >= 5, "only {after} renewals after the failover");
    let (status, held) = second.admin("GET", "/v1/grants");
    assert_eq!(status, 200);
    assert!(held.contains(&grant_id.to_string()), "{held}");
    let summary = agent.stop().await;
    assert_eq!((summary.releases_sent, summary.releases_confirmed), (1, 1));
}

fn failover_from_tokio_to_smol_with_the_agent_on_tokio() {
    let (tokio_bin, smol_bin) = (server_bin("tenured"), server_bin("tenured-smol"));
    let db = PgDb::create();
    let fx = Fixture::new(20, 50);
    let (first, second) = managers(&tokio_bin, &smol_bin, &fx, &db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let agent_rt = Arc::new(TokioRuntime::current().expect("inside tokio"));
        failover(agent_rt, first, second, "fo1.example.com").await;
    });
}

fn failover_from_smol_to_tokio_with_the_agent_on_smol() {
    let (tokio_bin, smol_bin) = (server_bin("tenured"), server_bin("tenured-smol"));
    let db = PgDb::create();
    let fx = Fixture::new(20, 50);
    let (first, second) = managers(&smol_bin, &tokio_bin, &fx, &db);
    smol::block_on(failover(
        Arc::new(SmolRuntime::global()),
        first,
        second,
        "fo2.example.com",
    ));
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "failover_from_tokio_to_smol_with_the_agent_on_tokio",
            &[
                Need::Built("tenured"),
                Need::Built("tenured-smol"),
                Need::Postgres,
            ],
            failover_from_tokio_to_smol_with_the_agent_on_tokio,
        ),
        trial(
            "failover_from_smol_to_tokio_with_the_agent_on_smol",
            &[
                Need::Built("tenured"),
                Need::Built("tenured-smol"),
                Need::Postgres,
            ],
            failover_from_smol_to_tokio_with_the_agent_on_smol,
        ),
    ])
}
