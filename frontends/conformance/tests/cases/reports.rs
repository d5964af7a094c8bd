//! Usage reports (section 6.3): `GET /v1/reports/usage` in JSON and CSV, for
//! a viewer, with 400 for a query it cannot answer; and the usage row's
//! `admin_released` and `license_id` (M8).

use super::{Expect, check_grant, grant_body};
use crate::support::server::{Body, NAMED_ADMIN, NAMED_VIEWER};
use crate::support::{Bin, Fixture, Launch, Server, assert_error, json_array};
use serde_json::{Value, json};
use tenure_core::report::{CSV_HEADER, period_label};

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-reports-1");
    let launch = Launch::new(&fixture).with_named_tokens();
    (Server::start(bin, launch), fixture)
}

fn viewer_get(server: &Server, path: &str, accept: Option<&str>) -> crate::support::Response {
    let mut headers = vec![("Authorization", format!("Bearer {NAMED_VIEWER}"))];
    if let Some(a) = accept {
        headers.push(("Accept", a.to_owned()));
    }
    server.send(&crate::support::client::Request {
        method: "GET",
        path,
        headers,
        body: None,
    })
}

fn json_body(v: &Value) -> Body<'static> {
    Some(("application/json", v.to_string().into_bytes()))
}

fn today() -> String {
    period_label(crate::support::license::now_ms())
}

pub fn usage_report_json_csv_and_bad_queries(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let gone = check_grant(&server.grant(&grant_body("vdp", "gone", 1, 4)), 201, expect);
    check_grant(
        &server.grant(&grant_body("vdp", "stays", 1, 2)),
        201,
        expect,
    );
    let instance = json!({"product": "vdp", "hostname": "gone", "port": 1});
    let admin = format!("Bearer {NAMED_ADMIN}");
    let released = server.admin_with(
        Some(&admin),
        "POST",
        "/v1/admin/release",
        json_body(&instance),
    );
    assert_eq!(released.status, 204, "{}", released.describe());
    // M8: the row says an operator freed it, under which license.
    let usage = viewer_get(&server, "/v1/usage", None);
    let rows = json_array(&usage.json(), &["usage", "rows"]).clone();
    let row = rows
        .iter()
        .find(|r| r.get("grant_id").and_then(Value::as_str) == Some(&gone))
        .unwrap_or_else(|| panic!("no usage row for {gone}: {rows:?}"));
    assert_eq!(row["end_reason"], "admin_released", "{row}");
    assert_eq!(row["license_id"], fixture.id(), "{row}");

    let path = format!("/v1/reports/usage?from={}", today());
    let resp = viewer_get(&server, &path, None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert!(
        resp.content_type().starts_with("application/json"),
        "{}",
        resp.describe()
    );
    let body = resp.json();
    assert_eq!(body["by"], "day", "{body}");
    assert_eq!(body["from"], today(), "{body}");
    let rows = json_array(&body, &["rows"]);
    let pool = rows
        .iter()
        .find(|r| r["environment"] == "production" && r["product"] == "vdp")
        .unwrap_or_else(|| panic!("no production/vdp row: {body}"));
    assert_eq!(pool["period_start"], today(), "{pool}");
    assert_eq!(pool["grants_started"], 2, "{pool}");
    assert_eq!(pool["grants_ended"]["admin_released"], 1, "{pool}");
    assert!(
        pool["peak_servers"].as_u64().is_some_and(|p| p >= 1),
        "{pool}"
    );
    assert!(
        pool["peak_cores"].as_u64().is_some_and(|p| p >= 2),
        "{pool}"
    );
    assert!(pool["server_hours"].is_number(), "{pool}");
    assert!(pool["core_ms"].as_u64().is_some(), "{pool}");
    assert_eq!(pool["license_id"], fixture.id(), "{pool}");

    // CSV by Accept or by format=csv: a header row, then one line per row.
    for (path, accept) in [
        (path.clone(), Some("text/csv")),
        (format!("{path}&format=csv&by=month"), None),
    ] {
        let resp = viewer_get(&server, &path, accept);
        assert_eq!(resp.status, 200, "{}", resp.describe());
        assert!(
            resp.content_type().starts_with("text/csv"),
            "{}",
            resp.describe()
        );
        let text = resp.text();
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()), "{text}");
        let vdp = lines
            .find(|l| l.contains(",production,vdp,"))
            .unwrap_or_else(|| panic!("no production/vdp line: {text}"));
        assert!(vdp.ends_with(fixture.id()), "{vdp}");
    }

    for bad in [
        "/v1/reports/usage",
        "/v1/reports/usage?from=yesterday",
        "/v1/reports/usage?from=2026-02-30",
        "/v1/reports/usage?from=2026-01-01&by=week",
        "/v1/reports/usage?from=2026-01-01&format=xml",
        "/v1/reports/usage?from=2026-01-02&to=2026-01-01",
        "/v1/reports/usage?from=2000-01-01&to=2026-01-01",
    ] {
        assert_error(&viewer_get(&server, bad, None), 400, "bad_request");
    }
    let anonymous = server.admin_with(None, "GET", &path, None);
    assert_error(&anonymous, 401, "unauthorized");
}
