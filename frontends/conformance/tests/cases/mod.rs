//! The cases, one function per test, grouped as in docs/protocol.md section 6.

pub mod admin;
pub mod audit;
pub mod basic;
pub mod components;
pub mod console;
pub mod framing;
pub mod grants;
pub mod limits;
pub mod openapi;
pub mod reports;
pub mod robustness;
pub mod roles;
pub mod settings;
pub mod startup;
pub mod tls;
pub mod twins;
pub mod validation;

use crate::support::Response;
use crate::support::license::{GRACE_S, VALID_FOR_MS, now_ms};
use serde_json::{Value, json};

/// The grant request of docs/protocol.md section 6.
pub fn example_grant() -> Value {
    json!({
        "environment": "production", "product": "vdp", "hostname": "vdp1.example.com",
        "port": 9999, "ip": "10.0.0.5", "cores": 8, "version": "9.1.0",
        "client_time_ms": 1_763_856_000_000_i64
    })
}

/// A minimal grant request in the production environment.
pub fn grant_body(product: &str, hostname: &str, port: u32, cores: u32) -> Value {
    json!({"environment": "production", "product": product, "hostname": hostname,
           "port": port, "cores": cores})
}

/// M3: the renewal of a replaced grant is 403 `replaced`, final, its message
/// naming the instance (the `environment=... product=... hostname=...
/// port=...` form the manager writes, hostname lower-case).
pub fn assert_replaced(resp: &Response, environment: &str, hostname: &str, port: u16) {
    crate::support::assert_error(resp, 403, "replaced");
    let message = resp
        .json()
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let named = format!("environment={environment} product=vdp hostname={hostname} port={port}");
    assert!(
        message.contains(&named),
        "the message should name the instance ({named}): {message:?}"
    );
}

/// What the suite expects in every grant and renew response.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub license_id: &'a str,
    pub lease_ttl_s: u64,
    pub renew_every_s: u64,
}

impl<'a> Expect<'a> {
    /// Defaults of docs/protocol.md section 9.
    pub fn defaults(license_id: &'a str) -> Self {
        Self {
            license_id,
            lease_ttl_s: 900,
            renew_every_s: 300,
        }
    }
}

fn u64_field(v: &Value, k: &str) -> u64 {
    v.get(k)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("`{k}` should be a non-negative integer in {v}"))
}

/// Checks a 201 grant or 200 renew and returns its `grant_id`.
pub fn check_grant(resp: &Response, status: u16, expect: Expect<'_>) -> String {
    assert_eq!(
        resp.status,
        status,
        "expected {status}, got {}",
        resp.describe()
    );
    let v = resp.json();
    let id = v
        .get("grant_id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no grant_id in {v}"))
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "grant_id {id:?} should be 32 hex digits"
    );
    assert_eq!(u64_field(&v, "lease_ttl_s"), expect.lease_ttl_s, "{v}");
    assert_eq!(u64_field(&v, "renew_every_s"), expect.renew_every_s, "{v}");
    assert_eq!(
        u64_field(&v, "grace_period_s"),
        GRACE_S,
        "from the license: {v}"
    );
    let server_time = v
        .get("server_time_ms")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("`server_time_ms` should be an integer in {v}"));
    assert!(
        (server_time - now_ms()).abs() < 60_000,
        "server_time_ms {server_time} is far from now"
    );
    assert_eq!(
        v.get("license_id").and_then(Value::as_str),
        Some(expect.license_id),
        "{v}"
    );
    let expires = u64_field(&v, "license_expires_in_s");
    let full = u64::try_from(VALID_FOR_MS / 1000).expect("positive");
    assert!(
        expires <= full && expires + 600 >= full,
        "license_expires_in_s {expires} should be about {full}"
    );
    id
}
