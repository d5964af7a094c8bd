//! The shared request path in-process, over the memory store: what each
//! endpoint answers before any frontend is involved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::manager::ManagerConfig;
use tenure_core::names::Name;
use tenure_service::auth::Tokens;
use tenure_service::{Env, Method, Request, Response, Service};
use tenure_storage::{InstallPolicy, Manager, MemoryStore, Store};

const T0: i64 = 1_800_000_000_000;
const TOKEN: &str = "admin-token-for-tests-0001";

fn n(s: &str) -> Name {
    Name::parse("t", s).expect("name")
}

fn service(max_managers: u32, node: &str, store: &MemoryStore) -> Service<MemoryStore> {
    let ids = Arc::new(AtomicU64::new(1));
    service_drawing(
        max_managers,
        node,
        store,
        Box::new(move || {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&ids.fetch_add(1, Ordering::SeqCst).to_be_bytes());
            b
        }),
    )
}

/// [`service`] whose random source is `random`.
fn service_drawing(
    max_managers: u32,
    node: &str,
    store: &MemoryStore,
    random: Box<dyn Fn() -> [u8; 16] + Send + Sync>,
) -> Service<MemoryStore> {
    let key = SecretKey::from_seed([9; 32]);
    let mut products = BTreeMap::new();
    products.insert(
        n("vdp"),
        Limits {
            max_servers: Some(1),
            max_cores_per_server: Some(16),
            max_total_cores: None,
            extra: BTreeMap::new(),
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(n("production"), products);
    let lic = License {
        license_id: "svc-test".into(),
        licensee: "T".into(),
        issued_at: UnixMillis(T0),
        not_before: UnixMillis(T0 - 1000),
        not_after: UnixMillis(T0 + 86_400_000),
        max_managers,
        grace_period_s: 60,
        limits,
        extra: BTreeMap::new(),
    };
    let m = Manager::new(
        store.clone(),
        ManagerConfig::default(),
        vec![key.verifying_key()],
    );
    m.install_license(&sign(&lic, &key).expect("sign"), InstallPolicy::IfNewer)
        .expect("install");
    let env = Env {
        random,
        clock: Box::new(|| UnixMillis(T0)),
        mono: Arc::new(|| std::time::Duration::ZERO),
    };
    Service::new(
        m,
        node.into(),
        Tokens::from_file_text(TOKEN).expect("token"),
        env,
    )
}

fn store() -> MemoryStore {
    let clock = Arc::new(AtomicI64::new(T0));
    MemoryStore::new(Arc::new(move || UnixMillis(clock.load(Ordering::SeqCst))))
}

fn req(method: Method, path: &str, body: &str) -> Request {
    let mut r = Request::new(method, path);
    r.content_type = Some("application/json".into());
    r.body = body.as_bytes().to_vec();
    r
}

fn admin(mut r: Request) -> Request {
    r.authorization = Some(format!("Bearer {TOKEN}"));
    r
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).expect("json body")
}

const GRANT: &str =
    r#"{"product":"vdp","hostname":"h1","port":9999,"cores":8,"client_time_ms":1800000000000}"#;

#[test]
fn ping_follows_the_heartbeat() {
    let s = service(2, "m1", &store());
    let before = s.handle(&Request::new(Method::Get, "/pingLicenseManager"));
    assert_eq!(before.status, 503, "not serving before the first heartbeat");
    assert!(before.retry_after.is_some());
    s.heartbeat();
    let after = s.handle(&Request::new(Method::Get, "/pingLicenseManager"));
    assert_eq!((after.status, after.body.as_slice()), (200, &b"OK"[..]));
    let h = s.handle(&Request::new(Method::Get, "/v1/health"));
    assert_eq!(h.status, 200);
    let v = json(&h);
    assert_eq!(v["node_id"], "m1");
    assert_eq!(v["serving"], true);
    assert_eq!(v["storage_ok"], true);
    assert_eq!(v["license_id"], "svc-test");
}

#[test]
fn grant_renew_release_over_the_service() {
    let s = service(2, "m1", &store());
    s.heartbeat();
    let g = s.handle(&req(Method::Post, "/v1/grants", GRANT));
    assert_eq!(g.status, 201, "{}", String::from_utf8_lossy(&g.body));
    let id = json(&g)["grant_id"].as_str().expect("id").to_owned();
    let r = s.handle(&req(
        Method::Post,
        &format!("/v1/grants/{id}/renew"),
        r#"{"client_time_ms":1800000005000}"#,
    ));
    assert_eq!(r.status, 200);
    let empty = s.handle(&Request::new(
        Method::Post,
        &format!("/v1/grants/{id}/renew"),
    ));
    assert_eq!(empty.status, 200, "a renewal body is optional");
    let second = s.handle(&req(Method::Post, "/v1/grants", &GRANT.replace("h1", "h2")));
    assert_eq!(
        (second.status, json(&second)["error"].as_str()),
        (403, Some("servers_exceeded"))
    );
    let d = s.handle(&Request::new(Method::Delete, &format!("/v1/grants/{id}")));
    assert_eq!(d.status, 204);
    let again = s.handle(&Request::new(
        Method::Post,
        &format!("/v1/grants/{id}/renew"),
    ));
    assert_eq!(json(&again)["error"], "unknown_grant");
    let metrics = s.handle(&Request::new(Method::Get, "/metrics"));
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("tenure_grants_total 1"), "{text}");
    assert!(
        text.contains("tenure_denials_total{reason=\"servers_exceeded\"} 1"),
        "{text}"
    );
}

#[test]
fn every_refusal_before_storage() {
    let s = service(2, "m1", &store());
    s.heartbeat();
    let cases: Vec<(Request, u16, &str)> = vec![
        (Request::new(Method::Get, "/nope"), 404, "not_found"),
        (
            Request::new(Method::Put, "/v1/grants"),
            405,
            "method_not_allowed",
        ),
        (req(Method::Post, "/v1/grants", "{"), 400, "bad_request"),
        (req(Method::Post, "/v1/grants", "[]"), 400, "bad_request"),
        (
            req(Method::Post, "/v1/grants", &GRANT.replace("9999", "0")),
            400,
            "bad_request",
        ),
        (
            Request {
                content_type: Some("text/plain".into()),
                ..req(Method::Post, "/v1/grants", GRANT)
            },
            415,
            "unsupported_media_type",
        ),
        (
            req(Method::Post, "/v1/grants", &" ".repeat(16 * 1024 + 1)),
            413,
            "payload_too_large",
        ),
        (Request::new(Method::Get, "/v1/status"), 401, "unauthorized"),
        (
            Request {
                authorization: Some("Bearer wrong-token-wrong-token".into()),
                ..Request::new(Method::Get, "/v1/grants")
            },
            401,
            "unauthorized",
        ),
        (
            Request::new(Method::Post, "/v1/grants/xyz/renew"),
            404,
            "unknown_grant",
        ),
        (
            admin(Request::new(Method::Delete, "/v1/admin/grants/xyz")),
            404,
            "not_found",
        ),
        (
            admin(Request {
                query: Some("since=never".into()),
                ..Request::new(Method::Get, "/v1/usage")
            }),
            400,
            "bad_request",
        ),
    ];
    for (r, status, code) in cases {
        let resp = s.handle(&r);
        assert_eq!(
            resp.status,
            status,
            "{} {}",
            r.path,
            String::from_utf8_lossy(&resp.body)
        );
        assert_eq!(json(&resp)["error"], code, "{}", r.path);
        assert_eq!(resp.content_type, Some("application/json"));
    }
    let not_allowed = s.handle(&Request::new(Method::Put, "/v1/grants"));
    assert_eq!(not_allowed.allow, Some("GET, POST"));
}

#[test]
fn admin_views_and_license_replacement() {
    let s = service(2, "m1", &store());
    s.heartbeat();
    s.handle(&req(Method::Post, "/v1/grants", GRANT));
    let st = s.handle(&admin(Request::new(Method::Get, "/v1/status")));
    assert_eq!(st.status, 200);
    let v = json(&st);
    assert_eq!(v["license_id"], "svc-test");
    assert_eq!(v["pools"][0]["servers"], 1);
    assert_eq!(v["pools"][0]["max_servers"], 1);
    assert_eq!(v["managers"][0]["node_id"], "m1");
    let gs = json(&s.handle(&admin(Request::new(Method::Get, "/v1/grants"))));
    assert_eq!(gs[0]["state"], "active");
    assert_eq!(gs[0]["hostname"], "h1");
    let rel = s.handle(&admin(req(
        Method::Post,
        "/v1/admin/release",
        r#"{"product":"vdp","hostname":"H1","port":9999}"#,
    )));
    assert_eq!(rel.status, 204);
    let usage = json(&s.handle(&admin(Request::new(Method::Get, "/v1/usage"))));
    assert_eq!(usage[0]["end_reason"], "admin_released");
    assert_eq!(usage[0]["license_id"], "svc-test");
    let mut put = admin(Request::new(Method::Put, "/v1/license"));
    put.body = b"-----BEGIN TENURE LICENSE-----\nnot a license\n".to_vec();
    let refused = s.handle(&put);
    assert_eq!(
        (refused.status, json(&refused)["error"].as_str()),
        (400, Some("bad_request"))
    );
    assert_eq!(
        json(&s.handle(&admin(Request::new(Method::Get, "/v1/status"))))["license_id"],
        "svc-test"
    );
}

#[test]
fn a_manager_beyond_max_managers_answers_503_everywhere() {
    let shared = store();
    let first = service(1, "m1", &shared);
    let second = service(1, "m2", &shared);
    first.heartbeat();
    second.heartbeat();
    assert_eq!(
        first
            .handle(&Request::new(Method::Get, "/pingLicenseManager"))
            .status,
        200
    );
    let ping = second.handle(&Request::new(Method::Get, "/pingLicenseManager"));
    assert_eq!(ping.status, 503);
    let g = second.handle(&req(Method::Post, "/v1/grants", GRANT));
    assert_eq!(
        (g.status, json(&g)["error"].as_str()),
        (503, Some("too_many_managers"))
    );
    assert!(g.retry_after.is_some());
    let st = second.handle(&admin(Request::new(Method::Get, "/v1/status")));
    assert_eq!(st.status, 503);
}

#[test]
fn ping_fails_as_soon_as_a_heartbeat_cannot_reach_storage() {
    let shared = store();
    let s = service(2, "m1", &shared);
    s.heartbeat();
    assert_eq!(
        s.handle(&Request::new(Method::Get, "/pingLicenseManager"))
            .status,
        200
    );
    shared.set_available(false);
    s.heartbeat();
    let ping = s.handle(&Request::new(Method::Get, "/pingLicenseManager"));
    assert_eq!(
        ping.status, 503,
        "storage unreachable: the load balancer must move on"
    );
    assert!(ping.retry_after.is_some());
    let health = json(&s.handle(&Request::new(Method::Get, "/v1/health")));
    assert_eq!(health["storage_ok"], false);
    shared.set_available(true);
    s.heartbeat();
    assert_eq!(
        s.handle(&Request::new(Method::Get, "/pingLicenseManager"))
            .status,
        200
    );
}

#[test]
fn storage_failures_keep_their_detail_from_unauthenticated_callers() {
    let shared = store();
    let s = service(2, "m1", &shared);
    s.heartbeat();
    shared.set_available(false);
    // The memory store's own text stands for a database's host and user.
    let detail = "memory store is down";
    let g = s.handle(&req(Method::Post, "/v1/grants", GRANT));
    assert_eq!(g.status, 503);
    assert!(g.retry_after.is_some());
    let body = json(&g);
    assert_eq!(body["error"], "storage_unavailable");
    assert_eq!(body["message"], tenure_service::service::STORAGE_FAILED);
    let st = s.handle(&admin(Request::new(Method::Get, "/v1/status")));
    assert_eq!(st.status, 503);
    assert!(!String::from_utf8_lossy(&st.body).contains(detail));
    s.heartbeat();
    for path in ["/v1/health", "/pingLicenseManager"] {
        let anyone = s.handle(&Request::new(Method::Get, path));
        assert_eq!(anyone.status, 503, "{path}");
        let text = String::from_utf8_lossy(&anyone.body).to_string();
        assert!(!text.contains(detail), "{path}: {text}");
    }
    let anyone = json(&s.handle(&Request::new(Method::Get, "/v1/health")));
    assert_eq!(
        anyone["warnings"][0],
        tenure_service::node::HEARTBEAT_FAILED,
        "{anyone}"
    );
    let wrong = {
        let mut r = Request::new(Method::Get, "/v1/health");
        r.authorization = Some("Bearer not-a-token-of-the-file".into());
        json(&s.handle(&r))
    };
    assert_eq!(wrong["warnings"], anyone["warnings"]);
    let operator = json(&s.handle(&admin(Request::new(Method::Get, "/v1/health"))));
    assert!(
        operator["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains(detail)),
        "{operator}"
    );
}

#[test]
fn no_randomness_answers_503_and_never_a_predictable_id() {
    let shared = store();
    // What `Env::system` gives when getrandom fails.
    let s = service_drawing(2, "m1", &shared, Box::new(|| [0; 16]));
    s.heartbeat();
    let g = s.handle(&req(Method::Post, "/v1/grants", GRANT));
    assert_eq!(g.status, 503, "{}", String::from_utf8_lossy(&g.body));
    assert!(g.retry_after.is_some());
    assert_eq!(json(&g)["error"], "overloaded");
    let held = s.handle(&admin(Request::new(Method::Get, "/v1/grants")));
    assert_eq!(json(&held), serde_json::json!([]), "nothing was granted");
    let mut sign_in = Request::new(Method::Post, "/ui/signin");
    sign_in.content_type = Some("application/x-www-form-urlencoded".into());
    sign_in.body = format!("token={TOKEN}").into_bytes();
    let r = s.handle(&sign_in);
    assert_eq!(r.status, 503, "no session id without randomness");
    assert!(r.headers.iter().all(|(n, _)| *n != "set-cookie"));
}

#[test]
fn metrics_carry_every_series_the_alerting_rules_read() {
    let s = service(2, "m1", &store());
    s.heartbeat();
    let g = s.handle(&req(Method::Post, "/v1/grants", GRANT));
    assert_eq!(g.status, 201);
    s.sweep();
    let metrics = s.handle(&Request::new(Method::Get, "/metrics"));
    let text = String::from_utf8_lossy(&metrics.body);
    for want in [
        "tenure_license_expiry_timestamp_seconds 1800086400\n",
        "tenure_license_max_managers 2\n",
        "tenure_license_max_servers{environment=\"production\",product=\"vdp\"} 1\n",
        "tenure_held_grants{environment=\"production\",product=\"vdp\"} 1\n",
        "tenure_grants_in_grace{environment=\"production\",product=\"vdp\"} 0\n",
        "tenure_managers_live 1\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // docs/alerts.yml may only read series a manager exports.
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/alerts.yml"
    ))
    .expect("docs/alerts.yml");
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut read = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("tenure_") {
            read += 1;
            assert!(
                exported.contains(&word),
                "docs/alerts.yml reads {word}, which /metrics does not export"
            );
        }
    }
    assert!(read > 10, "the rules read {read} tenure series");
}

#[test]
fn usage_pages_follow_their_links_and_the_full_listing_is_never_capped() {
    let s = service(2, "m1", &store());
    s.heartbeat();
    for host in ["h1", "h2", "h3"] {
        let g = s.handle(&req(Method::Post, "/v1/grants", &GRANT.replace("h1", host)));
        assert_eq!(g.status, 201, "{}", String::from_utf8_lossy(&g.body));
        let id = json(&g)["grant_id"].as_str().expect("id").to_owned();
        let d = s.handle(&Request::new(Method::Delete, &format!("/v1/grants/{id}")));
        assert_eq!(d.status, 204);
    }
    let get = |path: &str| {
        let mut r = Request::new(Method::Get, path.split('?').next().unwrap_or(path));
        r.query = path.split_once('?').map(|(_, q)| q.to_owned());
        r.authorization = Some(format!("Bearer {TOKEN}"));
        s.handle(&r)
    };
    let all = get("/v1/usage");
    assert_eq!(all.status, 200);
    let hosts = |r: &Response| -> Vec<String> {
        json(r)
            .as_array()
            .expect("rows")
            .iter()
            .map(|u| u["hostname"].as_str().expect("hostname").to_owned())
            .collect()
    };
    assert_eq!(hosts(&all), ["h1", "h2", "h3"]);
    assert!(all.link.is_none());
    let mut paged = Vec::new();
    let mut path = "/v1/usage?limit=2".to_owned();
    loop {
        let page = get(&path);
        assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
        paged.extend(hosts(&page));
        let Some(link) = page.link.clone() else { break };
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .map(|(t, _)| t.to_owned())
            .expect("a Link target");
        path = target;
    }
    assert_eq!(paged, ["h1", "h2", "h3"]);
    let bad = get("/v1/usage?after=yesterday");
    assert_eq!(bad.status, 400);
}

/// Audit rows are kept as long as usage rows (section 6.3): the sweep
/// prunes them by `--usage-retention`, not by a retention of their own.
#[test]
fn the_sweep_prunes_audit_rows_by_the_usage_retention() {
    const DAY_MS: i64 = 86_400_000;
    let clock = Arc::new(AtomicI64::new(T0));
    let shared = {
        let clock = clock.clone();
        MemoryStore::new(Arc::new(move || UnixMillis(clock.load(Ordering::SeqCst))))
    };
    let s =
        service(2, "m1", &shared).with_usage_retention(std::time::Duration::from_secs(9 * 86_400));
    // A call without a token on an admin route leaves a row.
    let refused = s.handle(&Request::new(Method::Get, "/v1/status"));
    assert_eq!(refused.status, 401);
    let rows = |store: &MemoryStore| {
        let page = store
            .transaction(&mut |tx| tx.audit_page(UnixMillis(0), None, 10))
            .expect("audit rows");
        page.iter().map(|k| k.row.at_ms).collect::<Vec<_>>()
    };
    assert_eq!(rows(&shared), [T0]);
    clock.store(T0 + 8 * DAY_MS, Ordering::SeqCst);
    s.sweep();
    assert_eq!(rows(&shared), [T0], "kept within the retention");
    clock.store(T0 + 10 * DAY_MS, Ordering::SeqCst);
    s.sweep();
    assert_eq!(
        rows(&shared),
        Vec::<i64>::new(),
        "pruned past the retention"
    );
}
