//! `Service::handle` over the memory store: sequences of requests with fuzzed
//! method, path, query, content type, authorization and body, interleaved with
//! clock moves, heartbeats and sweeps.
//!
//! Asserts, for every response: no panic; a known status; JSON bodies parse and
//! error bodies carry the code of their status; every 503 has Retry-After; every
//! 405 has Allow; 204 has no body; an admin endpoint without the token is 401;
//! an API body over 16 KiB is 413. After every step: the held grants fit the
//! license (I1/M1) and no instance holds two grants (M3).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tenure_core::license::{License, Limits, SecretKey, VerifyingKey, sign};
use tenure_core::manager::ManagerConfig;
use tenure_core::names::Name;
use tenure_core::wire::{Instance, MAX_BODY_BYTES, PoolKey};
use tenure_core::{ErrorCode, UnixMillis};
use tenure_service::auth::Tokens;
use tenure_service::route::{Route, route};
use tenure_service::{Env, Method, Request, Service};
use tenure_storage::{InstallPolicy, Manager, MemoryStore, Store, StoredLicense};

const T0: i64 = 1_800_000_000_000;
const TOKEN: &str = "admin-token-for-fuzzing-0001";
const HOSTS: [&str; 4] = ["h1", "H1", "h2", "host-3.example.com"];
const PRODUCTS: [&str; 3] = ["vdp", "sched", "nope"];
const ENVS: [&str; 3] = ["production", "staging", "qa"];

fn n(s: &str) -> Name {
    Name::parse("t", s).expect("name")
}

fn limits(s: Option<u64>, p: Option<u64>, t: Option<u64>) -> Limits {
    Limits {
        max_servers: s,
        max_cores_per_server: p,
        max_total_cores: t,
        extra: BTreeMap::new(),
    }
}

struct Fixture {
    key: VerifyingKey,
    license: License,
    text: String,
    /// What `install_license(text)` writes to an empty store (checked once).
    stored: StoredLicense,
    /// A second, newer license with other limits, for `PUT /v1/license`.
    newer: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = SecretKey::from_seed([9; 32]);
        let mut prod = BTreeMap::new();
        prod.insert(n("vdp"), limits(Some(2), Some(16), Some(24)));
        prod.insert(n("sched"), limits(None, None, Some(8)));
        let mut staging = BTreeMap::new();
        staging.insert(n("vdp"), limits(Some(1), None, None));
        let mut l = BTreeMap::new();
        l.insert(n("production"), prod);
        l.insert(n("staging"), staging);
        let license = License {
            license_id: "fuzz-1".into(),
            licensee: "Fuzz".into(),
            issued_at: UnixMillis(T0),
            not_before: UnixMillis(T0 - 1000),
            not_after: UnixMillis(T0 + 3 * 86_400_000),
            max_managers: 1,
            grace_period_s: 3600,
            limits: l,
            extra: BTreeMap::new(),
        };
        let text = sign(&license, &key).expect("sign");
        let mut newer = license.clone();
        newer.license_id = "fuzz-2".into();
        newer.issued_at = UnixMillis(T0 + 1);
        newer
            .limits
            .get_mut(&n("production"))
            .expect("prod")
            .insert(n("vdp"), limits(Some(1), Some(4), Some(4)));
        let newer = sign(&newer, &key).expect("sign");
        let stored = StoredLicense {
            license_id: license.license_id.clone(),
            issued_at: license.issued_at,
            armoured: text.clone(),
            installed_at: UnixMillis(T0),
        };
        // Installing verifies the signature (~40% of an execution when done
        // for every input); do it once and check that writing `stored`
        // directly leaves the store exactly as the install does.
        let store = MemoryStore::new(Arc::new(|| UnixMillis(T0)));
        let m = Manager::new(
            store.clone(),
            ManagerConfig::default(),
            vec![key.verifying_key()],
        );
        m.install_license(&text, InstallPolicy::IfNewer)
            .expect("install");
        let got = store.transaction(&mut |tx| tx.license()).expect("read");
        assert_eq!(
            got.as_ref(),
            Some(&stored),
            "install_license writes `stored`"
        );
        Fixture {
            key: key.verifying_key(),
            license,
            text,
            stored,
            newer,
        }
    })
}

#[derive(Debug, Arbitrary)]
enum M {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

#[derive(Debug, Arbitrary)]
enum PathChoice {
    Ping,
    Health,
    Metrics,
    Grants,
    /// `/v1/grants/{id}/renew` with the id of the k-th grant answered so far.
    Renew(u8),
    Release(u8),
    Revoke(u8),
    Status,
    Usage,
    AdminRelease,
    License,
    Audit,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Auth {
    None,
    Good,
    GoodPadded,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Ctype {
    None,
    Json,
    JsonCharset,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Field<T> {
    Absent,
    Value(T),
    Json(String),
}

#[derive(Debug, Arbitrary)]
struct GrantBody {
    environment: Field<u8>,
    product: Field<u8>,
    hostname: Field<u8>,
    port: Field<i64>,
    cores: Field<i64>,
    ip: Option<String>,
    version: Option<String>,
    client_time_ms: Option<i64>,
    extra: Option<(String, String)>,
}

#[derive(Debug, Arbitrary)]
enum Body {
    Empty,
    Grant(GrantBody),
    Renew(Option<i64>),
    License,
    NewerLicense,
    /// The current license with one byte changed.
    FlippedLicense(u16, u8),
    Raw(Vec<u8>),
    Huge(u8),
}

#[derive(Debug, Arbitrary)]
struct Req {
    method: M,
    path: PathChoice,
    query: Option<String>,
    content_type: Ctype,
    auth: Auth,
    body: Body,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Request(Req),
    Advance(u32),
    Heartbeat,
    Sweep,
    StoreDown(bool),
}

fn field<T: ToString>(f: &Field<T>, pick: impl Fn(&T) -> String) -> Option<String> {
    match f {
        Field::Absent => None,
        Field::Value(v) => Some(pick(v)),
        Field::Json(s) => Some(s.clone()),
    }
}

fn grant_json(g: &GrantBody) -> Vec<u8> {
    let quote = |s: &str| serde_json::to_string(s).expect("string");
    let mut parts = Vec::new();
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{}:{v}", quote(k)));
        }
    };
    // `Value` is a well-formed field; `Json` is any raw JSON text in its place.
    add(
        "environment",
        field(&g.environment, |i| {
            quote(ENVS[usize::from(*i) % ENVS.len()])
        }),
    );
    add(
        "product",
        field(&g.product, |i| {
            quote(PRODUCTS[usize::from(*i) % PRODUCTS.len()])
        }),
    );
    add(
        "hostname",
        field(&g.hostname, |i| quote(HOSTS[usize::from(*i) % HOSTS.len()])),
    );
    add(
        "port",
        field(&g.port, |p| (p.rem_euclid(3) + 1).to_string()),
    );
    add(
        "cores",
        field(&g.cores, |c| (c.rem_euclid(20) + 1).to_string()),
    );
    add("ip", g.ip.as_deref().map(quote));
    add("version", g.version.as_deref().map(quote));
    add("client_time_ms", g.client_time_ms.map(|t| t.to_string()));
    if let Some((k, v)) = &g.extra {
        add(k, Some(v.clone()));
    }
    format!("{{{}}}", parts.join(",")).into_bytes()
}

fn build(req: &Req, ids: &[String]) -> Request {
    let f = fixture();
    let id = |k: &u8| {
        ids.get(usize::from(*k) % ids.len().max(1))
            .cloned()
            .unwrap_or_else(|| "0".repeat(32))
    };
    let path = match &req.path {
        PathChoice::Ping => "/pingLicenseManager".to_owned(),
        PathChoice::Health => "/v1/health".to_owned(),
        PathChoice::Metrics => "/metrics".to_owned(),
        PathChoice::Grants => "/v1/grants".to_owned(),
        PathChoice::Renew(k) => format!("/v1/grants/{}/renew", id(k)),
        PathChoice::Release(k) => format!("/v1/grants/{}", id(k)),
        PathChoice::Revoke(k) => format!("/v1/admin/grants/{}", id(k)),
        PathChoice::Status => "/v1/status".to_owned(),
        PathChoice::Usage => "/v1/usage".to_owned(),
        PathChoice::AdminRelease => "/v1/admin/release".to_owned(),
        PathChoice::License => "/v1/license".to_owned(),
        PathChoice::Audit => "/v1/audit".to_owned(),
        PathChoice::Raw(s) => s.clone(),
    };
    let method = match req.method {
        M::Get => Method::Get,
        M::Head => Method::Head,
        M::Post => Method::Post,
        M::Put => Method::Put,
        M::Delete => Method::Delete,
        M::Other => Method::Other,
    };
    let mut r = Request::new(method, &path);
    r.query = req.query.clone();
    r.content_type = match &req.content_type {
        Ctype::None => None,
        Ctype::Json => Some("application/json".into()),
        Ctype::JsonCharset => Some("Application/JSON; charset=utf-8".into()),
        Ctype::Raw(s) => Some(s.clone()),
    };
    r.authorization = match &req.auth {
        Auth::None => None,
        Auth::Good => Some(format!("Bearer {TOKEN}")),
        Auth::GoodPadded => Some(format!("Bearer  {TOKEN} ")),
        Auth::Raw(s) => Some(s.clone()),
    };
    r.body = match &req.body {
        Body::Empty => Vec::new(),
        Body::Grant(g) => grant_json(g),
        Body::Renew(None) => b"{}".to_vec(),
        Body::Renew(Some(t)) => format!("{{\"client_time_ms\":{t}}}").into_bytes(),
        Body::License => f.text.clone().into_bytes(),
        Body::NewerLicense => f.newer.clone().into_bytes(),
        Body::FlippedLicense(at, x) => {
            let mut b = f.text.clone().into_bytes();
            let i = usize::from(*at) % b.len();
            b[i] ^= x | 1;
            b
        }
        Body::Raw(b) => b.clone(),
        Body::Huge(b) => vec![*b; MAX_BODY_BYTES + 1],
    };
    r
}

/// 303 and 308 are the console's redirects (`/ui/`).
const STATUSES: [u16; 13] = [
    200, 201, 204, 303, 308, 400, 401, 403, 404, 405, 413, 415, 503,
];

fn check_response(req: &Request, resp: &tenure_service::Response) {
    assert!(STATUSES.contains(&resp.status), "status {}", resp.status);
    if resp.status == 503 {
        assert!(
            resp.retry_after.is_some(),
            "503 without Retry-After: {resp:?}"
        );
    }
    if resp.status == 405 {
        assert!(resp.allow.is_some(), "405 without Allow");
    }
    if resp.status == 204 {
        assert!(resp.body.is_empty() && resp.content_type.is_none());
    }
    if resp.content_type == Some(tenure_service::http::JSON) {
        let v: serde_json::Value =
            serde_json::from_slice(&resp.body).expect("a JSON response parses");
        // `/v1/health` answers 503 with the health view, not an error body.
        if resp.status >= 400 && !matches!(route(req.method, &req.path), Route::Health) {
            let code = v["error"].as_str().expect("error code");
            let code = ErrorCode::ALL
                .into_iter()
                .find(|c| c.as_str() == code)
                .expect("a known error code");
            assert_eq!(code.http_status(), resp.status, "{v}");
            assert!(v["message"].is_string());
        }
    } else if resp.status >= 400 {
        // Only ping answers an error in text, and the console in HTML.
        assert!(
            matches!(route(req.method, &req.path), Route::Ping | Route::Console),
            "{resp:?}"
        );
    }
    let r = route(req.method, &req.path);
    let api = !matches!(
        r,
        Route::Ping
            | Route::Health
            | Route::Metrics
            | Route::Console
            | Route::NotFound
            | Route::MethodNotAllowed(_)
    );
    if api && req.body.len() > MAX_BODY_BYTES {
        assert_eq!(resp.status, 413);
    } else if r.is_admin() {
        // The token check as section 6 and auth.rs define it: `Bearer `, then
        // the token, surrounding whitespace ignored.
        let good = req
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == TOKEN);
        if !good {
            assert_eq!(resp.status, 401, "admin call without the token: {resp:?}");
        } else {
            assert_ne!(resp.status, 401, "admin call with the token refused");
        }
    }
}

fn check_held(s: &Service<MemoryStore>, lic: &License) {
    let held = s.manager().read(|tx, now| {
        Ok(tx
            .held_grants()?
            .into_iter()
            .filter(|g| g.is_held_at(now))
            .collect::<Vec<_>>())
    });
    let Ok(held) = held else { return };
    let mut per_pool: BTreeMap<PoolKey, (u64, u64)> = BTreeMap::new();
    let mut instances: BTreeSet<Instance> = BTreeSet::new();
    for g in &held {
        assert!(
            instances.insert(g.instance.clone()),
            "M3: two grants for {:?}",
            g.instance
        );
        let l = lic
            .limits_for(&g.instance.pool())
            .expect("held grant in a licensed pool");
        assert!(
            l.max_cores_per_server
                .is_none_or(|m| u64::from(g.facts.cores) <= m)
        );
        let e = per_pool.entry(g.instance.pool()).or_default();
        e.0 += 1;
        e.1 += u64::from(g.facts.cores);
    }
    for (pool, (servers, cores)) in per_pool {
        let l = lic.limits_for(&pool).expect("licensed");
        assert!(
            l.max_servers.is_none_or(|m| servers <= m),
            "I1 servers {pool:?}"
        );
        assert!(
            l.max_total_cores.is_none_or(|m| cores <= m),
            "I1 cores {pool:?}"
        );
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let f = fixture();
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
    let m = Manager::new(store.clone(), ManagerConfig::default(), vec![f.key]);
    // As `install_license(&f.text)` would (see `fixture`), without verifying
    // the same signature again; the manager still verifies the stored text
    // when it first loads it.
    store
        .transaction(&mut |tx| {
            let installed_at = tx.now()?;
            tx.put_license(&StoredLicense {
                installed_at,
                ..f.stored.clone()
            })
        })
        .expect("store the license");
    let next = Arc::new(AtomicU64::new(1));
    let c = clock.clone();
    let mono_clock = clock.clone();
    let env = Env {
        random: Box::new(move || {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&next.fetch_add(1, Ordering::SeqCst).to_be_bytes());
            b
        }),
        clock: Box::new(move || UnixMillis(c.load(Ordering::SeqCst))),
        // The monotonic clock moves with the store's: the fuzzer's clock
        // only advances, and no storage clock step is meant here.
        mono: Arc::new(move || {
            Duration::from_millis(u64::try_from(mono_clock.load(Ordering::SeqCst) - T0).unwrap_or(0))
        }),
    };
    let s = Service::new(
        m,
        "fuzz".into(),
        Tokens::from_file_text(TOKEN).expect("token"),
        env,
    );
    let mut ids: Vec<String> = Vec::new();
    for step in steps.into_iter().take(64) {
        match step {
            Step::Request(r) => {
                let req = build(&r, &ids);
                let resp = s.handle(&req);
                check_response(&req, &resp);
                if matches!(r.body, Body::FlippedLicense(..))
                    && route(req.method, &req.path) == Route::PutLicense
                {
                    // Section 2: a changed byte means an invalid license.
                    assert_ne!(
                        resp.status, 200,
                        "a license with a changed byte was installed"
                    );
                }
                if resp.status == 201 {
                    let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
                    ids.push(v["grant_id"].as_str().expect("grant_id").to_owned());
                }
            }
            Step::Advance(ms) => {
                clock.fetch_add(i64::from(ms), Ordering::SeqCst);
            }
            Step::Heartbeat => s.heartbeat(),
            Step::Sweep => s.sweep(),
            Step::StoreDown(down) => store.set_available(!down),
        }
        // Limits are checked against the first license, which is at least as
        // loose as the newer one in every pool.
        check_held(&s, &f.license);
    }
});
