//! Named tokens and the web console through the shared request path, over
//! the memory store: roles on the admin API, sign-in, sessions, the form
//! token, and each action from its confirmation page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::manager::ManagerConfig;
use tenure_core::names::Name;
use tenure_service::auth::{Role, Tokens};
use tenure_service::{Env, Method, Prepared, Request, Response, Service};
use tenure_storage::{InstallPolicy, Manager, MemoryStore};

const T0: i64 = 1_800_000_000_000;
const ADMIN: &str = "alice-admin-secret-0001";
const VIEWER: &str = "bob-viewer-secret-00002";
const GRANT: &str = r#"{"product":"vdp","hostname":"h1","port":9999,"cores":8}"#;

fn key() -> SecretKey {
    SecretKey::from_seed([9; 32])
}

fn license(id: &str, env: &str, issued: i64) -> String {
    let mut products = BTreeMap::new();
    products.insert(
        Name::parse("p", "vdp").expect("name"),
        Limits {
            max_servers: Some(2),
            ..Limits::default()
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(Name::parse("e", env).expect("name"), products);
    let lic = License {
        license_id: id.into(),
        licensee: "Example <Corp> & \"Sons\"".into(),
        issued_at: UnixMillis(issued),
        not_before: UnixMillis(T0 - 1000),
        not_after: UnixMillis(T0 + 86_400_000),
        max_managers: 1,
        grace_period_s: 600,
        limits,
        extra: BTreeMap::new(),
    };
    sign(&lic, &key()).expect("sign")
}

fn service() -> Service<MemoryStore> {
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
    let m = Manager::new(store, ManagerConfig::default(), vec![key().verifying_key()]);
    m.install_license(&license("first", "production", T0), InstallPolicy::IfNewer)
        .expect("install");
    let ids = Arc::new(AtomicU64::new(1));
    let m_clock = clock.clone();
    let env = Env {
        // The manager's monotonic reading follows the test's clock.
        mono: Arc::new(move || {
            std::time::Duration::from_millis(
                u64::try_from(m_clock.load(Ordering::SeqCst) - T0).unwrap_or(0),
            )
        }),
        random: Box::new(move || {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&ids.fetch_add(1, Ordering::SeqCst).to_be_bytes());
            b
        }),
        clock: Box::new(move || UnixMillis(clock.load(Ordering::SeqCst))),
    };
    let tokens = Tokens::from_file_text(&format!("alice admin {ADMIN}\nbob viewer {VIEWER}\n"))
        .expect("tokens");
    let s = Service::new(m, "m1".into(), tokens, env);
    s.heartbeat();
    s
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn bearer(method: Method, path: &str, token: &str, body: &str) -> Request {
    let mut r = Request::new(method, path);
    r.authorization = Some(format!("Bearer {token}"));
    r.content_type = Some("application/json".into());
    r.body = body.as_bytes().to_vec();
    r
}

fn grant(s: &Service<MemoryStore>) -> String {
    let mut r = Request::new(Method::Post, "/v1/grants");
    r.content_type = Some("application/json".into());
    r.body = GRANT.as_bytes().to_vec();
    let resp = s.handle(&r);
    assert_eq!(resp.status, 201, "{}", text(&resp));
    let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
    v["grant_id"].as_str().expect("id").to_owned()
}

/// A browser: its session cookie and the page's form token.
struct Browser<'a> {
    s: &'a Service<MemoryStore>,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(s: &'a Service<MemoryStore>) -> Self {
        Self { s, cookie: None }
    }

    fn send(&self, method: Method, path: &str, form: Option<&str>) -> Response {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path, None),
        };
        let mut r = Request::new(method, path);
        r.query = query;
        r.cookie = self.cookie.clone();
        r.fetch_site = Some(
            if method == Method::Post {
                "same-origin"
            } else {
                "none"
            }
            .into(),
        );
        if let Some(f) = form {
            r.content_type = Some("application/x-www-form-urlencoded".into());
            r.body = f.as_bytes().to_vec();
        }
        self.s.handle(&r)
    }

    fn sign_in(&mut self, token: &str) -> Response {
        let r = self.send(Method::Post, "/ui/signin", Some(&format!("token={token}")));
        if let Some(c) = header(&r, "set-cookie") {
            self.cookie = c.split(';').next().map(str::to_owned);
        }
        r
    }

    /// The form token on a page.
    fn csrf(&self) -> String {
        let page = text(&self.send(Method::Get, "/ui/", None));
        let at = page.find(r#"name="csrf" value=""#).expect("a form token") + 19;
        page[at..at + 64].to_owned()
    }
}

#[test]
fn viewers_read_and_only_admins_act_on_the_api() {
    let s = service();
    let id = grant(&s);
    for path in ["/v1/status", "/v1/grants", "/v1/usage"] {
        let r = s.handle(&bearer(Method::Get, path, VIEWER, ""));
        assert_eq!(r.status, 200, "{path}: {}", text(&r));
    }
    let acts = [
        (
            Method::Delete,
            format!("/v1/admin/grants/{id}"),
            String::new(),
        ),
        (
            Method::Post,
            "/v1/admin/release".into(),
            r#"{"product":"vdp","hostname":"h1","port":9999}"#.into(),
        ),
        (
            Method::Put,
            "/v1/license".into(),
            license("second", "production", T0 + 1),
        ),
    ];
    for (m, path, body) in &acts {
        let r = s.handle(&bearer(*m, path, VIEWER, body));
        assert_eq!(r.status, 403, "{path}: {}", text(&r));
        assert!(text(&r).contains(r#""error":"forbidden""#), "{}", text(&r));
        let r = s.handle(&bearer(*m, path, "not-a-token-of-the-file", body));
        assert_eq!(r.status, 401, "{path}");
    }
    assert_eq!(
        s.handle(&Request::new(
            Method::Post,
            &format!("/v1/grants/{id}/renew")
        ))
        .status,
        200
    );
    // The caller travels with the job.
    match s.prepare(&bearer(
        Method::Delete,
        &format!("/v1/admin/grants/{id}"),
        ADMIN,
        "",
    )) {
        Prepared::Job(call) => {
            let c = call.caller.expect("a caller");
            assert_eq!((&*c.name, c.role), ("alice", Role::Admin));
        }
        Prepared::Done(r) => panic!("expected a job, got {}", text(&r)),
    }
}

#[test]
fn sign_in_sessions_and_sign_out() {
    let s = service();
    let mut b = Browser::new(&s);
    let r = b.send(Method::Get, "/ui/", None);
    assert_eq!(
        (r.status, header(&r, "location")),
        (303, Some("/ui/signin"))
    );
    let r = b.send(Method::Get, "/ui", None);
    assert_eq!((r.status, header(&r, "location")), (308, Some("/ui/")));
    let r = b.send(Method::Get, "/ui/signin", None);
    assert_eq!(r.status, 200);
    for h in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(header(&r, h).is_some(), "{h}");
    }
    assert_eq!(b.sign_in("wrong-token-wrong-token").status, 401);
    assert!(b.cookie.is_none());
    let r = b.sign_in(VIEWER);
    assert_eq!((r.status, header(&r, "location")), (303, Some("/ui/")));
    let cookie = header(&r, "set-cookie").expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain loopback: {cookie}");
    let page = text(&b.send(Method::Get, "/ui/", None));
    assert!(
        page.contains("Example &lt;Corp&gt; &amp; &quot;Sons&quot;"),
        "{page}"
    );
    assert!(
        page.contains("production/vdp") && page.contains("0 of 2"),
        "{page}"
    );
    assert!(!page.contains("/ui/actions"), "{page}");
    let csrf = b.csrf();
    let r = b.send(Method::Post, "/ui/signout", Some("csrf=wrong"));
    assert_eq!(r.status, 403);
    let r = b.send(Method::Post, "/ui/signout", Some(&format!("csrf={csrf}")));
    assert_eq!(r.status, 303);
    assert!(header(&r, "set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(b.send(Method::Get, "/ui/", None).status, 303, "signed out");
    assert_eq!(b.send(Method::Delete, "/ui/", None).status, 405);
    assert_eq!(b.send(Method::Get, "/ui/nope", None).status, 404);
    assert_eq!(
        b.send(Method::Get, "/ui/static/console.css", None).status,
        200
    );
}

#[test]
fn a_viewer_sees_and_may_not_act() {
    let s = service();
    let id = grant(&s);
    let mut b = Browser::new(&s);
    b.sign_in(VIEWER);
    let page = text(&b.send(Method::Get, "/ui/grants", None));
    assert!(page.contains(&id) && page.contains("h1:9999"), "{page}");
    assert!(!page.contains("Revoke"), "{page}");
    assert_eq!(b.send(Method::Get, "/ui/actions", None).status, 403);
    assert_eq!(
        b.send(Method::Get, &format!("/ui/actions/revoke?grant={id}"), None)
            .status,
        403
    );
    let csrf = b.csrf();
    let r = b.send(
        Method::Post,
        "/ui/actions/revoke",
        Some(&format!("csrf={csrf}&grant={id}")),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        s.handle(&Request::new(
            Method::Post,
            &format!("/v1/grants/{id}/renew")
        ))
        .status,
        200
    );
}

#[test]
fn an_admin_revokes_and_releases_after_confirming() {
    let s = service();
    let id = grant(&s);
    let mut b = Browser::new(&s);
    b.sign_in(ADMIN);
    let confirm = text(&b.send(Method::Get, &format!("/ui/actions/revoke?grant={id}"), None));
    assert!(
        confirm.contains("Revoke this grant") && confirm.contains("h1:9999"),
        "{confirm}"
    );
    let csrf = b.csrf();
    // Without the form token, or from another origin: refused, nothing done.
    let r = b.send(
        Method::Post,
        "/ui/actions/revoke",
        Some(&format!("grant={id}")),
    );
    assert_eq!(r.status, 403);
    let mut forged = Request::new(Method::Post, "/ui/actions/revoke");
    forged.cookie = b.cookie.clone();
    forged.fetch_site = Some("same-site".into());
    forged.content_type = Some("application/x-www-form-urlencoded".into());
    forged.body = format!("csrf={csrf}&grant={id}").into_bytes();
    assert_eq!(s.handle(&forged).status, 403);
    assert_eq!(
        s.handle(&Request::new(
            Method::Post,
            &format!("/v1/grants/{id}/renew")
        ))
        .status,
        200
    );
    let r = b.send(
        Method::Post,
        "/ui/actions/revoke",
        Some(&format!("csrf={csrf}&grant={id}")),
    );
    assert_eq!(
        (r.status, header(&r, "location")),
        (303, Some("/ui/grants"))
    );
    let page = text(&b.send(Method::Get, "/ui/grants", None));
    assert!(page.contains("revoked: its component stops"), "{page}");
    let renew = s.handle(&Request::new(
        Method::Post,
        &format!("/v1/grants/{id}/renew"),
    ));
    assert_eq!(renew.status, 403, "{}", text(&renew));
    // Release: confirmation names the held grant, then frees the slot.
    let id2 = grant(&s);
    let q = "environment=production&product=vdp&hostname=h1&port=9999";
    let confirm = text(&b.send(Method::Get, &format!("/ui/actions/release?{q}"), None));
    assert!(
        confirm.contains(&id2) && confirm.contains("Release this instance"),
        "{confirm}"
    );
    let r = b.send(
        Method::Post,
        "/ui/actions/release",
        Some(&format!("csrf={csrf}&{q}")),
    );
    assert_eq!(r.status, 303);
    let renew = s.handle(&Request::new(
        Method::Post,
        &format!("/v1/grants/{id2}/renew"),
    ));
    assert_eq!(renew.status, 404, "{}", text(&renew));
}

#[test]
fn a_license_that_drops_a_pool_lists_the_grants_it_ends() {
    let s = service();
    let id = grant(&s);
    let mut b = Browser::new(&s);
    b.sign_in(ADMIN);
    let csrf = b.csrf();
    let staging = license("second", "staging", T0 + 1);
    let encoded: String = staging
        .bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect();
    let r = b.send(
        Method::Post,
        "/ui/actions/license/check",
        Some(&format!("csrf={csrf}&license_text={encoded}")),
    );
    let page = text(&r);
    assert_eq!(r.status, 200, "{page}");
    assert!(
        page.contains("production/vdp") && page.contains(&id),
        "{page}"
    );
    assert!(page.contains("1 grant will end"), "{page}");
    let bad = b.send(
        Method::Post,
        "/ui/actions/license/check",
        Some(&format!("csrf={csrf}&license_text=garbage")),
    );
    assert_eq!(bad.status, 400);
    assert!(!text(&bad).contains(r#"name="license""#), "no install form");
    let r = b.send(
        Method::Post,
        "/ui/actions/license",
        Some(&format!("csrf={csrf}&license={encoded}")),
    );
    assert_eq!((r.status, header(&r, "location")), (303, Some("/ui/")));
    let status = s.handle(&bearer(Method::Get, "/v1/status", VIEWER, ""));
    assert!(
        text(&status).contains(r#""license_id":"second""#),
        "{}",
        text(&status)
    );
}

/// The audit trail (section 6.3) of console actions and refusals, read back
/// through `GET /v1/audit`: each under the session's token name.
#[test]
fn console_actions_and_refusals_leave_audit_rows() {
    let s = service();
    let id = grant(&s);
    let mut wrong = Browser::new(&s);
    assert_eq!(wrong.sign_in("not-a-token-at-all-0000").status, 401);
    let mut viewer = Browser::new(&s);
    viewer.sign_in(VIEWER);
    let csrf = viewer.csrf();
    let form = format!("csrf={csrf}&grant={id}");
    let refused = viewer.send(Method::Post, "/ui/actions/revoke", Some(&form));
    assert_eq!(refused.status, 403);
    let mut admin = Browser::new(&s);
    admin.sign_in(ADMIN);
    let csrf = admin.csrf();
    let form = format!("csrf={csrf}&grant={id}");
    let r = admin.send(Method::Post, "/ui/actions/revoke", Some(&form));
    assert_eq!(r.status, 303, "{}", text(&r));
    let gone = format!("csrf={csrf}&environment=production&product=vdp&hostname=gone&port=1");
    let r = admin.send(Method::Post, "/ui/actions/release", Some(&gone));
    assert_eq!(r.status, 404, "{}", text(&r));

    let read = s.handle(&bearer(Method::Get, "/v1/audit", VIEWER, ""));
    assert_eq!(read.status, 200, "{}", text(&read));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&read.body).expect("json");
    let seen: Vec<String> = rows
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            [f("token_name"), f("action"), f("target"), f("result")].join(" ")
        })
        .collect();
    assert_eq!(
        seen,
        [
            "- sign_in POST /ui/signin unauthorized".to_owned(),
            "bob revoke POST /ui/actions/revoke forbidden".to_owned(),
            format!("alice revoke {id} ok"),
            "alice release production/vdp/gone:1 not_found".to_owned(),
        ]
    );
    assert!(
        rows.iter().all(|r| r["at_ms"] == T0),
        "storage time: {rows:?}"
    );
    let mut head = bearer(Method::Head, "/v1/audit", VIEWER, "");
    head.query = Some("limit=1".into());
    let head = s.handle(&head);
    assert_eq!(head.status, 200, "{}", text(&head));
    assert!(head.link.is_some_and(|l| l.contains("limit=1&after=")));
    let mut bad = bearer(Method::Get, "/v1/audit", VIEWER, "");
    bad.query = Some("after=x".into());
    let bad = s.handle(&bad);
    assert_eq!(bad.status, 400, "{}", text(&bad));
    assert!(text(&bad).contains("audit cursor"), "{}", text(&bad));
}
