//! The tokio driver against a fake manager over real HTTP on 127.0.0.1.

mod agent_support;

use agent_support::{FakeManager, Mode};
use std::time::Duration;
use tenure_core::ErrorCode;
use tenure_core::agent::{Event, StopReason};
use tenure_core::wire::RawGrantRequest;
use tenure_tokio::{Agent, AgentOptions};
use tokio::time::timeout;

fn options(url: String) -> AgentOptions {
    let request = RawGrantRequest {
        product: Some("vdp".into()),
        hostname: Some("vdp1.example.com".into()),
        port: Some(9999),
        cores: Some(8),
        ..RawGrantRequest::default()
    }
    .validate()
    .expect("valid request");
    let mut o = AgentOptions::new(vec![url], request);
    o.request_timeout = Duration::from_secs(2);
    o.seed = Some(7);
    o
}

/// The next event other than a renewal, within `limit`.
async fn next_notable(agent: &mut Agent, limit: Duration) -> Option<Event> {
    timeout(limit, async {
        loop {
            match agent.next_event().await {
                Some(Event::Renewed { .. }) => continue,
                other => return other,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test]
async fn starts_after_the_grant_renews_and_releases_on_stop() {
    let fake = FakeManager::start(2, 1, 30).await;
    let mut agent = Agent::start(options(fake.url())).expect("start");
    let first = timeout(Duration::from_secs(5), agent.next_event()).await;
    let Ok(Some(Event::Started { grant_id })) = first else {
        panic!("expected Started, got {first:?}");
    };
    assert_eq!(fake.count("POST", "/v1/grants", 201), 1);
    let grant_body = &fake.seen()[0].body;
    assert!(grant_body.contains("\"product\":\"vdp\""), "{grant_body}");
    assert!(grant_body.contains("client_time_ms"), "{grant_body}");

    let renewed = fake
        .wait_until(Duration::from_secs(5), |f| {
            f.count("POST", "/renew", 200) >= 2
        })
        .await;
    assert!(renewed, "two renewals within 5 s: {:?}", fake.seen());
    let renew = fake.seen().into_iter().find(|s| s.path.ends_with("/renew"));
    let renew = renew.expect("a renewal");
    assert_eq!(renew.path, format!("/v1/grants/{grant_id}/renew"));
    assert!(renew.body.contains("client_time_ms"), "{}", renew.body);

    let summary = timeout(Duration::from_secs(5), agent.stop())
        .await
        .expect("stop is bounded");
    assert_eq!(summary.releases_sent, 1);
    assert_eq!(summary.releases_confirmed, 1);
    let delete = fake.seen().into_iter().find(|s| s.method == "DELETE");
    assert_eq!(
        delete.map(|d| d.path),
        Some(format!("/v1/grants/{grant_id}"))
    );
}

#[tokio::test]
async fn outage_shorter_than_grace_enters_grace_then_recovers() {
    let fake = FakeManager::start(2, 1, 10).await;
    let mut agent = Agent::start(options(fake.url())).expect("start");
    assert!(matches!(
        next_notable(&mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    fake.set_mode(Mode::Unavailable);
    let grace = next_notable(&mut agent, Duration::from_secs(5)).await;
    assert!(
        matches!(grace, Some(Event::GraceEntered { remaining }) if remaining <= Duration::from_secs(9)),
        "{grace:?}"
    );
    assert!(fake.count("POST", "/renew", 503) >= 1);
    fake.set_mode(Mode::Ok);
    let back = next_notable(&mut agent, Duration::from_secs(5)).await;
    assert!(matches!(back, Some(Event::Recovered { .. })), "{back:?}");
    agent.stop().await;
}

#[tokio::test]
async fn a_503_with_retry_after_holds_the_next_round_back_that_long() {
    let fake = FakeManager::start(2, 1, 30).await;
    fake.set_mode(Mode::Unavailable);
    fake.set_retry_after(2);
    let mut agent = Agent::start(options(fake.url())).expect("start");
    let three = fake
        .wait_until(Duration::from_secs(10), |f| {
            f.count("POST", "/v1/grants", 503) >= 3
        })
        .await;
    assert!(three, "three refused grants: {:?}", fake.seen());
    fake.set_mode(Mode::Ok);
    let started = next_notable(&mut agent, Duration::from_secs(10)).await;
    assert!(
        matches!(started, Some(Event::Started { .. })),
        "{started:?}"
    );
    let at: Vec<_> = fake.seen().iter().map(|s| s.at).collect();
    // Each wait is Retry-After (2 s) plus full jitter below 1 s, then 2 s;
    // the fake stamps a request before answering it, so each gap also holds
    // one answer's and one request's trip over loopback.
    let slack = Duration::from_millis(500);
    for (i, ceiling) in [(1, Duration::from_secs(1)), (2, Duration::from_secs(2))] {
        let gap = at[i] - at[i - 1];
        assert!(
            gap >= Duration::from_secs(2) && gap <= Duration::from_secs(2) + ceiling + slack,
            "gap {i}: {gap:?}"
        );
    }
    agent.stop().await;
}

#[tokio::test]
async fn refused_connections_until_grace_runs_out_mean_must_stop() {
    let fake = FakeManager::start(1, 1, 3).await;
    let mut agent = Agent::start(options(fake.url())).expect("start");
    assert!(matches!(
        next_notable(&mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    fake.go_down();
    let started_outage = std::time::Instant::now();
    let grace = next_notable(&mut agent, Duration::from_secs(4)).await;
    assert!(
        matches!(grace, Some(Event::GraceEntered { .. })),
        "{grace:?}"
    );
    let stop = next_notable(&mut agent, Duration::from_secs(5)).await;
    assert_eq!(stop, Some(Event::MustStop(StopReason::GraceExpired)));
    // Grace is 3 s from the last successful send, which was at most 1 s before the outage.
    assert!(started_outage.elapsed() <= Duration::from_millis(4000));
    // Nothing to release once stopped for grace; stop() stays bounded.
    timeout(Duration::from_secs(5), agent.stop())
        .await
        .expect("stop is bounded");
}

#[tokio::test]
async fn revoked_means_must_stop_at_once() {
    let fake = FakeManager::start(2, 1, 30).await;
    let mut agent = Agent::start(options(fake.url())).expect("start");
    assert!(matches!(
        next_notable(&mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    fake.set_mode(Mode::Revoked);
    let stop = next_notable(&mut agent, Duration::from_secs(5)).await;
    assert_eq!(stop, Some(Event::MustStop(StopReason::Revoked)));
    agent.stop().await;
}

#[tokio::test]
async fn a_refused_first_grant_never_starts() {
    let fake = FakeManager::start(2, 1, 30).await;
    fake.set_mode(Mode::Full);
    let mut agent = Agent::start(options(fake.url())).expect("start");
    let stop = next_notable(&mut agent, Duration::from_secs(5)).await;
    assert_eq!(
        stop,
        Some(Event::MustStop(StopReason::Denied {
            code: ErrorCode::ServersExceeded
        }))
    );
    let summary = agent.stop().await;
    assert_eq!(summary.releases_sent, 0);
    assert_eq!(fake.releases(), 0);
}

#[tokio::test]
async fn a_second_manager_is_tried_when_the_first_is_down() {
    let down = FakeManager::start(2, 1, 30).await;
    down.go_down();
    let up = FakeManager::start(2, 1, 30).await;
    let mut o = options(down.url());
    o.managers.push(up.url());
    let mut agent = Agent::start(o).expect("start");
    assert!(matches!(
        next_notable(&mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    assert_eq!(up.count("POST", "/v1/grants", 201), 1);
    agent.stop().await;
    assert_eq!(up.releases(), 1);
}
