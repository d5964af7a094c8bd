//! The driver's cases against the fake manager over real HTTP on 127.0.0.1,
//! written once; `driver_tokio.rs` and `driver_smol.rs` run each of them on
//! their runtime.

/// Calls `$run!` with the name of every case, so that each runtime's test
/// file runs them all.
#[macro_export]
macro_rules! every_case {
    ($run:ident) => {
        $run!(
            starts_after_the_grant_renews_and_releases_on_stop,
            outage_shorter_than_grace_enters_grace_then_recovers,
            a_503_with_retry_after_holds_the_next_round_back_that_long,
            refused_connections_until_grace_runs_out_mean_must_stop,
            revoked_means_must_stop_at_once,
            a_refused_first_grant_never_starts,
            a_second_manager_is_tried_when_the_first_is_down,
            retry_after_reaches_the_core_in_seconds,
            a_missing_manager_refuses_to_connect,
            a_component_token_goes_with_every_request_and_rotates,
        );
    };
}

use super::fake::{FakeManager, Mode};
use futures_lite::future::or;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tenure_agent::http::{from_http, to_http};
use tenure_agent::{Agent, AgentOptions, ComponentToken, Event, Runtime, StopReason};
use tenure_core::ErrorCode;
use tenure_core::agent::{Request, Response, TransportError};

fn options(url: String) -> AgentOptions {
    let mut o = AgentOptions::new(vec![url], super::request("vdp1.example.com"));
    o.request_timeout = Duration::from_secs(2);
    o.seed = Some(7);
    o
}

fn start(rt: &Arc<dyn Runtime>, options: AgentOptions) -> Agent {
    Agent::start_on(rt.clone(), options).expect("start")
}

/// `fut`'s output, or `None` after `limit`.
pub async fn within<T>(
    rt: &dyn Runtime,
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Option<T> {
    let expired = async {
        rt.sleep_until(rt.now() + limit).await;
        None
    };
    or(async { Some(fut.await) }, expired).await
}

/// The next event other than a renewal, within `limit`.
async fn next_notable(rt: &dyn Runtime, agent: &mut Agent, limit: Duration) -> Option<Event> {
    within(rt, limit, async {
        loop {
            match agent.next_event().await {
                Some(Event::Renewed { .. }) => continue,
                other => return other,
            }
        }
    })
    .await
    .flatten()
}

pub async fn starts_after_the_grant_renews_and_releases_on_stop(rt: Arc<dyn Runtime>) {
    let fake = FakeManager::start(2, 1, 30);
    let mut agent = start(&rt, options(fake.url()));
    let first = within(&*rt, Duration::from_secs(5), agent.next_event()).await;
    let Some(Some(Event::Started { grant_id })) = first else {
        panic!("expected Started, got {first:?}");
    };
    assert_eq!(fake.count("POST", "/v1/grants", 201), 1);
    let grant_body = &fake.seen()[0].body;
    assert!(grant_body.contains("\"product\":\"vdp\""), "{grant_body}");
    assert!(grant_body.contains("client_time_ms"), "{grant_body}");

    let renewed = fake
        .wait_until(&*rt, Duration::from_secs(5), |f| {
            f.count("POST", "/renew", 200) >= 2
        })
        .await;
    assert!(renewed, "two renewals within 5 s: {:?}", fake.seen());
    let renew = fake.seen().into_iter().find(|s| s.path.ends_with("/renew"));
    let renew = renew.expect("a renewal");
    assert_eq!(renew.path, format!("/v1/grants/{grant_id}/renew"));
    assert!(renew.body.contains("client_time_ms"), "{}", renew.body);

    let summary = within(&*rt, Duration::from_secs(5), agent.stop())
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

pub async fn outage_shorter_than_grace_enters_grace_then_recovers(rt: Arc<dyn Runtime>) {
    let fake = FakeManager::start(2, 1, 10);
    let mut agent = start(&rt, options(fake.url()));
    assert!(matches!(
        next_notable(&*rt, &mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    fake.set_mode(Mode::Unavailable);
    let grace = next_notable(&*rt, &mut agent, Duration::from_secs(5)).await;
    assert!(
        matches!(grace, Some(Event::GraceEntered { remaining }) if remaining <= Duration::from_secs(9)),
        "{grace:?}"
    );
    assert!(fake.count("POST", "/renew", 503) >= 1);
    fake.set_mode(Mode::Ok);
    let back = next_notable(&*rt, &mut agent, Duration::from_secs(5)).await;
    assert!(matches!(back, Some(Event::Recovered { .. })), "{back:?}");
    agent.stop().await;
}

pub async fn a_503_with_retry_after_holds_the_next_round_back_that_long(rt: Arc<dyn Runtime>) {
    let fake = FakeManager::start(2, 1, 30);
    fake.set_mode(Mode::Unavailable);
    fake.set_retry_after(2);
    let mut agent = start(&rt, options(fake.url()));
    let three = fake
        .wait_until(&*rt, Duration::from_secs(10), |f| {
            f.count("POST", "/v1/grants", 503) >= 3
        })
        .await;
    assert!(three, "three refused grants: {:?}", fake.seen());
    fake.set_mode(Mode::Ok);
    let started = next_notable(&*rt, &mut agent, Duration::from_secs(10)).await;
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

pub async fn refused_connections_until_grace_runs_out_mean_must_stop(rt: Arc<dyn Runtime>) {
    let fake = FakeManager::start(1, 1, 3);
    let mut agent = start(&rt, options(fake.url()));
    assert!(matches!(
        next_notable(&*rt, &mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    fake.go_down();
    let started_outage = std::time::Instant::now();
    let grace = next_notable(&*rt, &mut agent, Duration::from_secs(4)).await;
    assert!(
        matches!(grace, Some(Event::GraceEntered { .. })),
        "{grace:?}"
    );
    let stop = next_notable(&*rt, &mut agent, Duration::from_secs(5)).await;
    assert_eq!(stop, Some(Event::MustStop(StopReason::GraceExpired)));
    // Grace is 3 s from the last successful send, which was at most 1 s before the outage.
    assert!(started_outage.elapsed() <= Duration::from_millis(4000));
    // Nothing to release once stopped for grace; stop() stays bounded.
    within(&*rt, Duration::from_secs(5), agent.stop())
        .await
        .expect("stop is bounded");
}

pub async fn revoked_means_must_stop_at_once(rt: Arc<dyn Runtime>) {
    let fake = FakeManager::start(2, 1, 30);
    let mut agent = start(&rt, options(fake.url()));
    assert!(matches!(
        next_notable(&*rt, &mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    fake.set_mode(Mode::Revoked);
    let stop = next_notable(&*rt, &mut agent, Duration::from_secs(5)).await;
    assert_eq!(stop, Some(Event::MustStop(StopReason::Revoked)));
    agent.stop().await;
}

pub async fn a_refused_first_grant_never_starts(rt: Arc<dyn Runtime>) {
    let fake = FakeManager::start(2, 1, 30);
    fake.set_mode(Mode::Full);
    let mut agent = start(&rt, options(fake.url()));
    let stop = next_notable(&*rt, &mut agent, Duration::from_secs(5)).await;
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

pub async fn a_second_manager_is_tried_when_the_first_is_down(rt: Arc<dyn Runtime>) {
    let down = FakeManager::start(2, 1, 30);
    down.go_down();
    let up = FakeManager::start(2, 1, 30);
    let mut o = options(down.url());
    o.managers.push(up.url());
    let mut agent = start(&rt, o);
    assert!(matches!(
        next_notable(&*rt, &mut agent, Duration::from_secs(5)).await,
        Some(Event::Started { .. })
    ));
    assert_eq!(up.count("POST", "/v1/grants", 201), 1);
    agent.stop().await;
    assert_eq!(up.releases(), 1);
}

/// One answer with the given `Retry-After` line, from a socket, through the
/// runtime's HTTP client and the agent's mapping.
async fn answer_with(rt: &dyn Runtime, retry_after: &str) -> Result<Response, TransportError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let body = r#"{"error":"overloaded","message":"busy now"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n{retry_after}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        // Read the request's head before answering.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        stream.write_all(answer.as_bytes()).expect("write");
    });
    let client = rt.http_client(None).expect("client");
    let release = Request::Release {
        grant_id: tenure_core::GrantId::from_random([1; 16]),
    };
    let request = to_http(&base, &release).expect("request");
    let out = within(rt, Duration::from_secs(5), client.send(request))
        .await
        .expect("answered in time")
        .and_then(|a| from_http(&a));
    server.join().expect("server");
    out
}

pub async fn retry_after_reaches_the_core_in_seconds(rt: Arc<dyn Runtime>) {
    let retry_after = |r: Result<Response, TransportError>| match r {
        Ok(Response::Error {
            status: 503,
            body: Some(_),
            retry_after,
        }) => retry_after,
        other => panic!("{other:?}"),
    };
    let s = Duration::from_secs;
    assert_eq!(
        retry_after(answer_with(&*rt, "Retry-After: 1\r\n").await),
        Some(s(1))
    );
    assert_eq!(
        retry_after(answer_with(&*rt, "retry-after:  30 \r\n").await),
        Some(s(30))
    );
    assert_eq!(retry_after(answer_with(&*rt, "").await), None);
    assert_eq!(
        retry_after(answer_with(&*rt, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n").await),
        None
    );
}

pub async fn a_missing_manager_refuses_to_connect(rt: Arc<dyn Runtime>) {
    let port = super::free_port();
    let client = rt.http_client(None).expect("client");
    let request = to_http(
        &format!("http://127.0.0.1:{port}"),
        &Request::Release {
            grant_id: tenure_core::GrantId::from_random([2; 16]),
        },
    )
    .expect("request");
    let out = within(&*rt, Duration::from_secs(5), client.send(request)).await;
    assert_eq!(
        out.map(|r| r.map(|a| a.status)),
        Some(Err(TransportError::Connect))
    );
}

/// M10: the token goes in `Authorization` with the grant, every renewal and
/// the release; a 401 (the managers moved on to a new token) is only
/// unreachable (A4), and `set_token` rotates it while the agent runs.
pub async fn a_component_token_goes_with_every_request_and_rotates(rt: Arc<dyn Runtime>) {
    const OLD: &str = "agent-component-old-0123456789";
    const NEW: &str = "agent-component-new-9876543210";
    let fake = FakeManager::start(2, 1, 30);
    fake.require_token(Some(OLD));
    let mut o = options(fake.url());
    o.token = Some(ComponentToken::new(OLD).expect("token"));
    let mut agent = start(&rt, o);
    let first = within(&*rt, Duration::from_secs(5), agent.next_event()).await;
    assert!(
        matches!(first, Some(Some(Event::Started { .. }))),
        "{first:?}"
    );
    let renewed = fake
        .wait_until(&*rt, Duration::from_secs(5), |f| {
            f.count("POST", "/renew", 200) >= 1
        })
        .await;
    assert!(renewed, "{:?}", fake.seen());
    let old = format!("Bearer {OLD}");
    assert!(
        fake.seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(old.as_str())),
        "{:?}",
        fake.seen()
    );
    fake.require_token(Some(NEW));
    let refused = fake
        .wait_until(&*rt, Duration::from_secs(5), |f| {
            f.count("POST", "/renew", 401) >= 1
        })
        .await;
    assert!(refused, "{:?}", fake.seen());
    agent.set_token(Some(ComponentToken::new(NEW).expect("token")));
    let before = fake.count("POST", "/renew", 200);
    let back = fake
        .wait_until(&*rt, Duration::from_secs(10), |f| {
            f.count("POST", "/renew", 200) > before
        })
        .await;
    assert!(back, "renewals with the new token: {:?}", fake.seen());
    // The 401s never stopped it.
    while let Some(Some(event)) = within(&*rt, Duration::from_millis(10), agent.next_event()).await
    {
        assert!(!matches!(event, Event::MustStop(_)), "{event:?}");
    }
    let summary = within(&*rt, Duration::from_secs(5), agent.stop())
        .await
        .expect("stop is bounded");
    assert_eq!(summary.releases_confirmed, 1);
    let release = fake.seen().into_iter().find(|s| s.method == "DELETE");
    assert_eq!(
        release.and_then(|r| r.authorization),
        Some(format!("Bearer {NEW}"))
    );
}
