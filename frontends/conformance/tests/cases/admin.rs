//! The admin API: token, status, grants, usage, release, revoke, license.
//!
//! Assumed shapes beyond docs/protocol.md, from tenure-core's wire types
//! (`core/src/wire/admin.rs`): `/v1/status` is a `StatusView` (`license_id`,
//! `licensee`, `pools[]` with `environment`, `product`, `servers`,
//! `total_cores`, `max_*`, and `managers[]` with `node_id`); `/v1/grants` and
//! `/v1/usage` are a JSON array, or an object holding one array (`grants`,
//! `usage`, `rows`), of `GrantView` / `UsageRow` objects (`grant_id`, `state`,
//! `hostname`, `end_reason`...).

use super::{Expect, check_grant, grant_body};
use crate::support::license::UNTRUSTED_SEED;
use crate::support::server::{ADMIN_TOKEN, Body};
use crate::support::{Bin, Fixture, Launch, Response, Server, assert_error, json_array, license};
use serde_json::{Value, json};

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-admin-1");
    (Server::start(bin, Launch::new(&fixture)), fixture)
}

fn json_body(v: &Value) -> Body<'static> {
    Some(("application/json", v.to_string().into_bytes()))
}

fn status(server: &Server) -> Value {
    let resp = server.admin("GET", "/v1/status", None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    resp.json()
}

fn held_grants(server: &Server) -> Vec<Value> {
    let resp = server.admin("GET", "/v1/grants", None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    json_array(&resp.json(), &["grants"]).clone()
}

fn usage(server: &Server) -> Vec<Value> {
    let resp = server.admin("GET", "/v1/usage?since=2020-01-01T00:00:00Z", None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    json_array(&resp.json(), &["usage", "rows"]).clone()
}

fn find<'a>(rows: &'a [Value], grant_id: &str) -> Option<&'a Value> {
    rows.iter()
        .find(|r| r.get("grant_id").and_then(Value::as_str) == Some(grant_id))
}

pub fn admin_calls_need_the_token(bin: &Bin) {
    let (server, fixture) = start(bin);
    let id = check_grant(
        &server.grant(&grant_body("vdp", "a", 1, 1)),
        201,
        Expect::defaults(fixture.id()),
    );
    let release = json!({"product": "vdp", "hostname": "a", "port": 1});
    let license_text = Fixture::standard("conf-admin-2").armoured();
    let revoke = format!("/v1/admin/grants/{id}");
    let wrong_same_len = "x".repeat(ADMIN_TOKEN.len());
    let wrong_prefix = format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    let wrong_longer = format!("Bearer {ADMIN_TOKEN}x");
    let wrong_same = format!("Bearer {wrong_same_len}");
    let wrong_scheme = format!("Basic {ADMIN_TOKEN}");
    let bare = ADMIN_TOKEN.to_owned();
    let auths: [Option<&str>; 7] = [
        None,
        Some("Bearer"),
        Some(&wrong_prefix),
        Some(&wrong_longer),
        Some(&wrong_same),
        Some(&wrong_scheme),
        Some(&bare),
    ];
    for auth in auths {
        let calls: [(&str, &str, Body<'_>); 6] = [
            ("GET", "/v1/status", None),
            ("GET", "/v1/grants", None),
            ("GET", "/v1/usage?since=2020-01-01T00:00:00Z", None),
            ("POST", "/v1/admin/release", json_body(&release)),
            ("DELETE", &revoke, None),
            (
                "PUT",
                "/v1/license",
                Some(("text/plain", license_text.clone().into_bytes())),
            ),
        ];
        for (method, path, body) in calls {
            let resp = server.admin_with(auth, method, path, body);
            assert_eq!(
                resp.status,
                401,
                "{method} {path} with {auth:?}: {}",
                resp.describe()
            );
            assert_error(&resp, 401, "unauthorized");
        }
    }
    // Nothing above took effect.
    check_grant(&server.renew(&id), 200, Expect::defaults(fixture.id()));
    assert_eq!(
        status(&server).get("license_id").and_then(Value::as_str),
        Some(fixture.id())
    );
}

pub fn status_shows_license_and_pools(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    check_grant(&server.grant(&grant_body("vdp", "a", 1, 8)), 201, expect);
    check_grant(&server.grant(&grant_body("vdp", "b", 1, 4)), 201, expect);
    let v = status(&server);
    assert_eq!(
        v.get("license_id").and_then(Value::as_str),
        Some(fixture.id()),
        "{v}"
    );
    assert_eq!(
        v.get("licensee").and_then(Value::as_str),
        Some(fixture.license.licensee.as_str()),
        "{v}"
    );
    let pools = v
        .get("pools")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no pools in {v}"));
    let vdp = pools
        .iter()
        .find(|p| {
            p.get("environment").and_then(Value::as_str) == Some("production")
                && p.get("product").and_then(Value::as_str) == Some("vdp")
        })
        .unwrap_or_else(|| panic!("no production/vdp pool in {v}"));
    assert_eq!(vdp.get("servers").and_then(Value::as_u64), Some(2), "{vdp}");
    assert_eq!(
        vdp.get("total_cores").and_then(Value::as_u64),
        Some(12),
        "{vdp}"
    );
    assert_eq!(
        vdp.get("max_servers").and_then(Value::as_u64),
        Some(2),
        "{vdp}"
    );
    assert_eq!(
        vdp.get("max_cores_per_server").and_then(Value::as_u64),
        Some(16),
        "{vdp}"
    );
    assert_eq!(
        vdp.get("max_total_cores").and_then(Value::as_u64),
        Some(20),
        "{vdp}"
    );
    let managers = v
        .get("managers")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no managers in {v}"));
    assert!(
        managers
            .iter()
            .any(|m| m.get("node_id").and_then(Value::as_str) == Some(server.node_id.as_str())),
        "this manager is not listed: {v}"
    );
}

pub fn grants_lists_held_grants(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let mut body = super::example_grant();
    body["hostname"] = json!("Listed.Example.com");
    let id = check_grant(&server.grant(&body), 201, expect);
    let gone = check_grant(&server.grant(&grant_body("vdp", "gone", 1, 1)), 201, expect);
    assert_eq!(server.release(&gone).status, 204);
    let rows = held_grants(&server);
    let row = find(&rows, &id).unwrap_or_else(|| panic!("grant {id} not listed: {rows:?}"));
    assert_eq!(
        row.get("state").and_then(Value::as_str),
        Some("active"),
        "{row}"
    );
    assert_eq!(
        row.get("hostname").and_then(Value::as_str),
        Some("listed.example.com"),
        "{row}"
    );
    assert_eq!(
        row.get("product").and_then(Value::as_str),
        Some("vdp"),
        "{row}"
    );
    assert_eq!(row.get("port").and_then(Value::as_u64), Some(9999), "{row}");
    assert_eq!(row.get("cores").and_then(Value::as_u64), Some(8), "{row}");
    // T5: the skew of the component's clock is recorded and reported
    // (`client_skew_ms` = client time - storage time, as in core's GrantView).
    let sent = body["client_time_ms"]
        .as_i64()
        .expect("example has a client time");
    let skew = row
        .get("client_skew_ms")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no client_skew_ms for a grant that sent client_time_ms: {row}"));
    let expected = sent - license::now_ms();
    assert!(
        (skew - expected).abs() < 60_000,
        "client_skew_ms {skew} should be about {expected}"
    );
    assert!(
        find(&rows, &gone).is_none(),
        "a released grant is not held: {rows:?}"
    );
}

/// `?limit=N&after=ID` pages the listing in grant-id order; a `Link` header
/// (`rel="next"`) names the next page while there may be one. Without
/// `limit` the answer is the whole listing, as docs/protocol.md gives it.
pub fn grants_listing_pages(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let mut ids: Vec<String> = (1..=5)
        .map(|port| {
            check_grant(
                &server.grant(&grant_body("open", "paged", port, 1)),
                201,
                expect,
            )
        })
        .collect();
    ids.sort();
    let whole: Vec<String> = held_grants(&server)
        .iter()
        .filter_map(|r| r.get("grant_id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    assert_eq!(whole, ids, "the whole listing, in grant-id order");

    let mut path = "/v1/grants?limit=2".to_owned();
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let resp = server.admin("GET", &path, None);
        assert_eq!(resp.status, 200, "{}", resp.describe());
        let rows = json_array(&resp.json(), &["grants"]).clone();
        assert!(rows.len() <= 2, "a page holds at most `limit`: {rows:?}");
        paged.extend(
            rows.iter()
                .filter_map(|r| r.get("grant_id").and_then(Value::as_str).map(str::to_owned)),
        );
        pages += 1;
        let Some(link) = resp.header("link") else {
            break;
        };
        let last = paged.last().cloned().unwrap_or_default();
        assert_eq!(
            link,
            format!("</v1/grants?limit=2&after={last}>; rel=\"next\""),
            "{}",
            resp.describe()
        );
        path = format!("/v1/grants?limit=2&after={last}");
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(paged, ids, "the pages together are the listing");
    assert_eq!(pages, 3, "5 grants in pages of 2");

    let after_all = format!("/v1/grants?limit=2&after={}", ids[4]);
    let resp = server.admin("GET", &after_all, None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert!(json_array(&resp.json(), &["grants"]).is_empty());
    assert_eq!(resp.header("link"), None);

    for bad in [
        "/v1/grants?limit=0",
        "/v1/grants?limit=10001",
        "/v1/grants?limit=two",
        "/v1/grants?limit=2&after=nothex",
        "/v1/grants?after=nothex",
    ] {
        assert_error(&server.admin("GET", bad, None), 400, "bad_request");
    }
    // `after` alone: the rest of the listing, unpaged.
    let resp = server.admin("GET", &format!("/v1/grants?after={}", ids[1]), None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert_eq!(
        resp.header("link"),
        None,
        "an unpaged answer has no next page"
    );
    let rest: Vec<String> = json_array(&resp.json(), &["grants"])
        .iter()
        .filter_map(|r| r.get("grant_id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    assert_eq!(rest, ids[2..].to_vec());
}

pub fn revoke_then_renew_is_403_revoked(bin: &Bin) {
    let (server, fixture) = start(bin);
    let id = check_grant(
        &server.grant(&grant_body("vdp", "a", 1, 1)),
        201,
        Expect::defaults(fixture.id()),
    );
    let path = format!("/v1/admin/grants/{id}");
    let resp = server.admin("DELETE", &path, None);
    assert_eq!(resp.status, 204, "{}", resp.describe());
    assert_error(&server.renew(&id), 403, "revoked");
    assert!(
        find(&held_grants(&server), &id).is_none(),
        "a revoked grant is not held"
    );
    // docs/protocol.md gives the status (404), not the code: either name is accepted.
    let again = server.admin("DELETE", &path, None);
    assert_404_unknown(&again);
    let unknown = server.admin(
        "DELETE",
        "/v1/admin/grants/0123456789abcdef0123456789abcdef",
        None,
    );
    assert_404_unknown(&unknown);
}

/// A 404 error body whose code is `unknown_grant` or `not_found`.
fn assert_404_unknown(resp: &Response) {
    assert_eq!(resp.status, 404, "{}", resp.describe());
    let code = resp
        .json()
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned);
    assert!(
        matches!(code.as_deref(), Some("unknown_grant" | "not_found")),
        "404 code {code:?}"
    );
    assert_error(resp, 404, code.as_deref().unwrap_or_default());
}

pub fn release_instance(bin: &Bin) {
    let (server, fixture) = start(bin);
    let id = check_grant(
        &server.grant(&grant_body("vdp", "Crashed.example.com", 7, 1)),
        201,
        Expect::defaults(fixture.id()),
    );
    // The instance as given, with the default environment and another case.
    let instance = json!({"product": "vdp", "hostname": "crashed.EXAMPLE.com", "port": 7});
    let resp = server.admin("POST", "/v1/admin/release", json_body(&instance));
    assert_eq!(resp.status, 204, "{}", resp.describe());
    assert!(
        find(&held_grants(&server), &id).is_none(),
        "released instance still held"
    );
    assert_error(&server.renew(&id), 404, "unknown_grant");
    let again = server.admin("POST", "/v1/admin/release", json_body(&instance));
    assert_404_unknown(&again);
    let invalid = json!({"product": "vdp", "hostname": "a b", "port": 7});
    let resp = server.admin("POST", "/v1/admin/release", json_body(&invalid));
    assert_error(&resp, 400, "bad_request");
}

pub fn usage_rows_carry_end_reason(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let released = check_grant(&server.grant(&grant_body("vdp", "r", 1, 1)), 201, expect);
    assert_eq!(server.release(&released).status, 204);
    let replaced = check_grant(&server.grant(&grant_body("vdp", "p", 1, 1)), 201, expect);
    check_grant(&server.grant(&grant_body("vdp", "p", 1, 2)), 201, expect);
    let revoked = check_grant(&server.grant(&grant_body("open", "v", 1, 1)), 201, expect);
    let path = format!("/v1/admin/grants/{revoked}");
    assert_eq!(server.admin("DELETE", &path, None).status, 204);
    let rows = usage(&server);
    for (id, reason) in [
        (&released, "released"),
        (&replaced, "replaced"),
        (&revoked, "revoked"),
    ] {
        let row = find(&rows, id).unwrap_or_else(|| panic!("no usage row for {id}: {rows:?}"));
        assert_eq!(
            row.get("end_reason").and_then(Value::as_str),
            Some(reason),
            "{row}"
        );
    }
    // Nothing ended after a time in the future.
    let later = server.admin("GET", "/v1/usage?since=2999-01-01T00:00:00Z", None);
    assert_eq!(later.status, 200, "{}", later.describe());
    assert!(json_array(&later.json(), &["usage", "rows"]).is_empty());
    for since in ["yesterday", "2020-13-01T00:00:00Z", "1700000000", ""] {
        let resp = server.admin("GET", &format!("/v1/usage?since={since}"), None);
        assert_error(&resp, 400, "bad_request");
    }
}

fn put_license(server: &Server, text: &str) -> crate::support::Response {
    server.admin(
        "PUT",
        "/v1/license",
        Some(("text/plain", text.as_bytes().to_vec())),
    )
}

pub fn put_license_refuses_invalid_and_keeps_old(bin: &Bin) {
    let (server, fixture) = start(bin);
    let mut next = Fixture::standard("conf-admin-next");
    next.license.issued_at.0 += 600_000;
    let candidates = [
        license::tampered(&next.armoured()),
        next.armoured_with(UNTRUSTED_SEED),
        "not a license".to_owned(),
        String::new(),
    ];
    for text in candidates {
        let resp = put_license(&server, &text);
        assert_error(&resp, 400, "bad_request");
        assert_eq!(
            status(&server).get("license_id").and_then(Value::as_str),
            Some(fixture.id()),
            "the old license is kept"
        );
    }
    check_grant(
        &server.grant(&grant_body("vdp", "a", 1, 1)),
        201,
        Expect::defaults(fixture.id()),
    );
}

pub fn put_license_installs_newer(bin: &Bin) {
    let (server, fixture) = start(bin);
    let mut next = Fixture::standard("conf-admin-next");
    next.license.issued_at.0 += 600_000;
    // The new license has room for one more server.
    if let Some(l) = next
        .license
        .limits
        .values_mut()
        .find_map(|products| products.values_mut().find(|l| l.max_servers == Some(2)))
    {
        l.max_servers = Some(3);
    }
    let expect = Expect::defaults(fixture.id());
    let id = check_grant(&server.grant(&grant_body("vdp", "a", 1, 1)), 201, expect);
    check_grant(&server.grant(&grant_body("vdp", "b", 1, 1)), 201, expect);
    assert_error(
        &server.grant(&grant_body("vdp", "c", 1, 1)),
        403,
        "servers_exceeded",
    );
    let resp = put_license(&server, &next.armoured());
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert_eq!(
        status(&server).get("license_id").and_then(Value::as_str),
        Some(next.id()),
        "status shows the new license"
    );
    let new_expect = Expect::defaults(next.id());
    check_grant(&server.renew(&id), 200, new_expect);
    check_grant(
        &server.grant(&grant_body("vdp", "c", 1, 1)),
        201,
        new_expect,
    );
}
