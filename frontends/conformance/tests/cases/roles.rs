//! Named tokens and roles (section 6.2): a viewer reads, only an admin acts,
//! a wrong token is 401, and a file of one bare secret is still an admin.

use super::{Expect, check_grant, grant_body};
use crate::support::server::{ADMIN_TOKEN, Body, NAMED_ADMIN, NAMED_VIEWER};
use crate::support::{Bin, Fixture, Launch, Server, assert_error, json_array};
use serde_json::{Value, json};

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-roles-1");
    let launch = Launch::new(&fixture).with_named_tokens();
    (Server::start(bin, launch), fixture)
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn json_body(v: &Value) -> Body<'static> {
    Some(("application/json", v.to_string().into_bytes()))
}

pub fn viewer_reads_status_grants_usage(bin: &Bin) {
    let (server, fixture) = start(bin);
    let id = check_grant(
        &server.grant(&grant_body("vdp", "a", 1, 2)),
        201,
        Expect::defaults(fixture.id()),
    );
    let viewer = bearer(NAMED_VIEWER);
    let status = server.admin_with(Some(&viewer), "GET", "/v1/status", None);
    assert_eq!(status.status, 200, "{}", status.describe());
    assert_eq!(
        status.json().get("license_id").and_then(Value::as_str),
        Some(fixture.id())
    );
    let grants = server.admin_with(Some(&viewer), "GET", "/v1/grants", None);
    assert_eq!(grants.status, 200, "{}", grants.describe());
    let listed = json_array(&grants.json(), &["grants"]).clone();
    assert!(
        listed
            .iter()
            .any(|g| g.get("grant_id").and_then(Value::as_str) == Some(&id)),
        "{listed:?}"
    );
    let usage = server.admin_with(
        Some(&viewer),
        "GET",
        "/v1/usage?since=2020-01-01T00:00:00Z",
        None,
    );
    assert_eq!(usage.status, 200, "{}", usage.describe());
}

pub fn viewer_is_forbidden_to_act(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let id = check_grant(&server.grant(&grant_body("vdp", "a", 1, 2)), 201, expect);
    let viewer = bearer(NAMED_VIEWER);
    let revoke = format!("/v1/admin/grants/{id}");
    let newer = Fixture::standard("conf-roles-2").armoured();
    let calls: [(&str, &str, Body<'_>); 3] = [
        ("DELETE", &revoke, None),
        (
            "POST",
            "/v1/admin/release",
            json_body(&json!({"product": "vdp", "hostname": "a", "port": 1})),
        ),
        (
            "PUT",
            "/v1/license",
            Some(("text/plain", newer.into_bytes())),
        ),
    ];
    for (method, path, body) in calls {
        let resp = server.admin_with(Some(&viewer), method, path, body);
        assert_error(&resp, 403, "forbidden");
    }
    // Nothing took effect; the admin token of the same file acts.
    check_grant(&server.renew(&id), 200, expect);
    let admin = bearer(NAMED_ADMIN);
    let resp = server.admin_with(Some(&admin), "DELETE", &revoke, None);
    assert_eq!(resp.status, 204, "{}", resp.describe());
    assert_error(&server.renew(&id), 403, "revoked");
}

pub fn wrong_token_is_401(bin: &Bin) {
    let (server, _) = start(bin);
    let wrong = [
        bearer("conformance-named-viewer-9f8e7d6c5b4b"),
        bearer("watch"),
        bearer("watch viewer"),
        bearer(ADMIN_TOKEN),
        format!("Basic {NAMED_ADMIN}"),
        NAMED_ADMIN.to_owned(),
    ];
    for auth in &wrong {
        for (method, path) in [("GET", "/v1/status"), ("DELETE", "/v1/admin/grants/00")] {
            let resp = server.admin_with(Some(auth), method, path, None);
            assert_error(&resp, 401, "unauthorized");
        }
    }
}

pub fn one_line_token_file_is_admin(bin: &Bin) {
    let fixture = Fixture::standard("conf-roles-3");
    let server = Server::start(bin, Launch::new(&fixture));
    let id = check_grant(
        &server.grant(&grant_body("vdp", "a", 1, 2)),
        201,
        Expect::defaults(fixture.id()),
    );
    let resp = server.admin("DELETE", &format!("/v1/admin/grants/{id}"), None);
    assert_eq!(resp.status, 204, "{}", resp.describe());
    assert_error(&server.renew(&id), 403, "revoked");
}
