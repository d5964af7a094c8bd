//! Ping, health, metrics and routing.

use crate::support::client::Request;
use crate::support::server::ADMIN_TOKEN;
use crate::support::{Bin, Fixture, Launch, Server, assert_error};
use serde_json::Value;

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-basic-1");
    (Server::start(bin, Launch::new(&fixture)), fixture)
}

pub fn ping_answers_ok(bin: &Bin) {
    let (server, _) = start(bin);
    let resp = server.get("/pingLicenseManager");
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert_eq!(resp.text().trim_end(), "OK");
    assert!(
        resp.content_type().starts_with("text/"),
        "ping content type {:?} should be text",
        resp.content_type()
    );
}

/// Field names assumed for `GET /v1/health` (docs/protocol.md names the facts, not
/// the keys): `node_id` (string, the `--node-id`), `storage_ok` (bool),
/// `license_id` (string), `serving` (bool: the role view), `warnings` (array),
/// `clock_offsets` (present; any JSON shape).
pub fn health_reports_node_storage_and_license(bin: &Bin) {
    let (server, fixture) = start(bin);
    let resp = server.get("/v1/health");
    assert_eq!(resp.status, 200, "{}", resp.describe());
    let v = resp.json();
    assert_eq!(
        v.get("node_id").and_then(Value::as_str),
        Some(server.node_id.as_str()),
        "{v}"
    );
    assert_eq!(
        v.get("storage_ok").and_then(Value::as_bool),
        Some(true),
        "{v}"
    );
    assert_eq!(
        v.get("license_id").and_then(Value::as_str),
        Some(fixture.id()),
        "{v}"
    );
    assert_eq!(v.get("serving").and_then(Value::as_bool), Some(true), "{v}");
    assert!(v.get("warnings").is_some_and(Value::is_array), "{v}");
    assert!(v.get("clock_offsets").is_some(), "{v}");
}

pub fn metrics_are_prometheus_text(bin: &Bin) {
    let (server, _) = start(bin);
    // One grant first so that the counters have something to count.
    let _ = server.grant(&super::example_grant());
    let resp = server.get("/metrics");
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert!(
        resp.content_type().starts_with("text/plain"),
        "metrics content type {:?}",
        resp.content_type()
    );
    let text = resp.text();
    assert!(
        text.lines().any(|l| l.starts_with("# TYPE ")),
        "no `# TYPE` line in metrics:\n{text}"
    );
}

pub fn unknown_path_is_404_json(bin: &Bin) {
    let (server, _) = start(bin);
    for path in [
        "/",
        "/nope",
        "/v1",
        "/v1/grantsx",
        "/v2/grants",
        "/v1/grants/abc/renew/x",
    ] {
        let resp = server.get(path);
        assert_error(&resp, 404, "not_found");
    }
    let resp = server.post_json("/v1/nothing", &serde_json::json!({}));
    assert_error(&resp, 404, "not_found");
}

pub fn wrong_method_is_405_json(bin: &Bin) {
    let (server, _) = start(bin);
    let id = "0123456789abcdef0123456789abcdef";
    let renew = format!("/v1/grants/{id}/renew");
    let grant = format!("/v1/grants/{id}");
    let revoke = format!("/v1/admin/grants/{id}");
    let cases: [(&str, &str); 10] = [
        ("POST", "/pingLicenseManager"),
        ("DELETE", "/pingLicenseManager"),
        ("POST", "/v1/health"),
        ("PUT", "/v1/grants"),
        ("GET", &renew),
        ("GET", &grant),
        ("GET", "/v1/admin/release"),
        ("POST", &revoke),
        ("GET", "/v1/license"),
        ("POST", "/metrics"),
    ];
    for (method, path) in cases {
        // With the admin token, so that admin paths cannot answer 401 instead.
        let resp = server.send(&Request {
            method,
            path,
            headers: vec![("Authorization", format!("Bearer {ADMIN_TOKEN}"))],
            body: None,
        });
        assert_eq!(resp.status, 405, "{method} {path}: {}", resp.describe());
        assert_error(&resp, 405, "method_not_allowed");
        // RFC 9110: a 405 lists the allowed methods.
        assert!(
            resp.header("allow").is_some_and(|a| !a.trim().is_empty()),
            "{method} {path}: 405 without an Allow header: {:?}",
            resp.headers
        );
    }
}
