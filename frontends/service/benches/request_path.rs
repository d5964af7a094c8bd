//! The request path of `tenure-service` end to end on the memory store:
//! routing, decoding, validation, one transaction with the core decision,
//! encoding. No sockets: what a frontend adds on top is its own cost.

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::manager::ManagerConfig;
use tenure_core::names::Name;
use tenure_service::auth::Tokens;
use tenure_service::{Env, Method, Request, Service};
use tenure_storage::{InstallPolicy, Manager, MemoryStore};

const T0: i64 = 1_800_000_000_000;

fn service() -> Service<MemoryStore> {
    let key = SecretKey::from_seed([5; 32]);
    let name = |s: &str| Name::parse("bench", s).expect("name");
    let mut products = BTreeMap::new();
    products.insert(name("vdp"), Limits::default());
    let mut limits = BTreeMap::new();
    limits.insert(name("production"), products);
    let lic = License {
        license_id: "bench".into(),
        licensee: "Bench".into(),
        issued_at: UnixMillis(T0),
        not_before: UnixMillis(T0 - 1000),
        not_after: UnixMillis(T0 + 86_400_000),
        max_managers: 2,
        grace_period_s: 432_000,
        limits,
        extra: BTreeMap::new(),
    };
    let store = MemoryStore::new(Arc::new(|| UnixMillis(T0)));
    let m = Manager::new(store, ManagerConfig::default(), vec![key.verifying_key()]);
    m.install_license(&sign(&lic, &key).expect("sign"), InstallPolicy::IfNewer)
        .expect("install");
    let ids = Arc::new(AtomicU64::new(1));
    let env = Env {
        random: Box::new(move || {
            let mut b = [7u8; 16];
            b[..8].copy_from_slice(&ids.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            b
        }),
        clock: Box::new(|| UnixMillis(T0)),
        mono: std::sync::Arc::new(|| std::time::Duration::ZERO),
    };
    let s = Service::new(
        m,
        "bench".into(),
        Tokens::from_file_text("bench-admin-token-0000").expect("token"),
        env,
    );
    s.heartbeat();
    s
}

fn post(path: &str, body: &str) -> Request {
    let mut r = Request::new(Method::Post, path);
    r.content_type = Some("application/json".into());
    r.body = body.as_bytes().to_vec();
    r
}

fn request_path(c: &mut Criterion) {
    let s = service();
    let ping = Request::new(Method::Get, "/pingLicenseManager");
    c.bench_function("service: ping", |b| b.iter(|| s.handle(black_box(&ping))));
    let grant = post(
        "/v1/grants",
        r#"{"product":"vdp","hostname":"bench-host","port":9999,"cores":8,"client_time_ms":1800000000000}"#,
    );
    c.bench_function("service: grant (replacing the instance's grant)", |b| {
        b.iter(|| s.handle(black_box(&grant)))
    });
    let held = s.handle(&post(
        "/v1/grants",
        r#"{"product":"vdp","hostname":"renewer","port":1,"cores":8}"#,
    ));
    let v: serde_json::Value = serde_json::from_slice(&held.body).expect("grant json");
    let id = v["grant_id"].as_str().expect("id").to_owned();
    let renew = post(
        &format!("/v1/grants/{id}/renew"),
        r#"{"client_time_ms":1800000000000}"#,
    );
    c.bench_function("service: renew", |b| b.iter(|| s.handle(black_box(&renew))));
}

criterion_group!(benches, request_path);
criterion_main!(benches);
