//! The audit trail (section 6.3): admin actions and refusals on admin
//! routes, read back through `GET /v1/audit` by a viewer, a page at a time.

use super::{Expect, check_grant, grant_body};
use crate::support::server::{NAMED_ADMIN, NAMED_VIEWER};
use crate::support::{Bin, Fixture, Launch, Server, assert_error, json_array};
use serde_json::Value;

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-audit-1");
    let launch = Launch::new(&fixture).with_named_tokens();
    (Server::start(bin, launch), fixture)
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn field<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Every row, read as the viewer.
fn trail(server: &Server) -> Vec<Value> {
    let viewer = bearer(NAMED_VIEWER);
    let resp = server.admin_with(Some(&viewer), "GET", "/v1/audit", None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    json_array(&resp.json(), &["rows"]).clone()
}

pub fn audit_names_the_token_action_target_and_result(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let id = check_grant(&server.grant(&grant_body("vdp", "a", 1, 2)), 201, expect);
    let path = format!("/v1/admin/grants/{id}");
    // A viewer's attempt is refused and leaves a `forbidden` row.
    let viewer = bearer(NAMED_VIEWER);
    assert_error(
        &server.admin_with(Some(&viewer), "DELETE", &path, None),
        403,
        "forbidden",
    );
    let admin = bearer(NAMED_ADMIN);
    let resp = server.admin_with(Some(&admin), "DELETE", &path, None);
    assert_eq!(resp.status, 204, "{}", resp.describe());
    // No token at all: `unauthorized`, under the anonymous name `-`.
    assert_error(
        &server.admin_with(None, "GET", "/v1/status", None),
        401,
        "unauthorized",
    );
    let rows = trail(&server);
    let seen: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| {
            let f = |k| field(r, k);
            [f("token_name"), f("action"), f("result"), f("target")]
        })
        .collect();
    assert_eq!(seen.len(), 3, "{rows:?}");
    assert_eq!(seen[0][..3], ["watch", "revoke", "forbidden"], "{rows:?}");
    assert!(
        seen[0][3].starts_with("DELETE /v1/admin/grants/"),
        "{rows:?}"
    );
    assert_eq!(seen[1], ["ops", "revoke", "ok", id.as_str()], "{rows:?}");
    assert_eq!(seen[2], ["-", "status", "unauthorized", "GET /v1/status"]);
    for r in &rows {
        let at_ms = r.get("at_ms").and_then(Value::as_i64).unwrap_or_default();
        assert!(at_ms > 1_700_000_000_000, "storage time in ms: {r}");
        assert!(field(r, "at").ends_with('Z'), "RFC 3339: {r}");
    }
    // An admin reads it too; a call without a token does not.
    let resp = server.admin_with(Some(&admin), "GET", "/v1/audit", None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert_error(
        &server.admin_with(None, "GET", "/v1/audit", None),
        401,
        "unauthorized",
    );
    let bad = server.admin_with(Some(&viewer), "GET", "/v1/audit?since=yesterday", None);
    assert_error(&bad, 400, "bad_request");
}

pub fn audit_pages_follow_their_links(bin: &Bin) {
    let (server, _) = start(bin);
    for port in 1..=3 {
        let path = format!("/v1/admin/grants/{port:032x}");
        let resp = server.admin_with(Some(&bearer(NAMED_ADMIN)), "DELETE", &path, None);
        assert_error(&resp, 404, "not_found");
    }
    let whole = trail(&server);
    assert_eq!(
        whole.len(),
        3,
        "an unknown grant leaves a `not_found` row each"
    );
    assert!(
        whole.iter().all(|r| field(r, "result") == "not_found"),
        "{whole:?}"
    );
    let viewer = bearer(NAMED_VIEWER);
    let mut path = "/v1/audit?since=2020-01-01T00:00:00Z&limit=1".to_owned();
    let mut paged = Vec::new();
    for _ in 0..10 {
        let resp = server.admin_with(Some(&viewer), "GET", &path, None);
        assert_eq!(resp.status, 200, "{}", resp.describe());
        let rows = json_array(&resp.json(), &["rows"]).clone();
        assert!(rows.len() <= 1, "a page holds at most `limit`: {rows:?}");
        paged.extend(rows);
        let Some(link) = resp.header("link") else {
            break;
        };
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.split_once(">; rel=\"next\""))
            .map(|(target, _)| target.to_owned())
            .unwrap_or_else(|| panic!("not a next link: {link}"));
        assert!(
            next.starts_with("/v1/audit?") && next.contains("limit=1"),
            "{next}"
        );
        path = next;
    }
    assert_eq!(paged, whole, "the pages together are the trail");
}
