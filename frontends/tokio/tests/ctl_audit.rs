//! `tenurectl audit` against a real `tenured`: the rows an admin's revoke
//! and the refused calls leave, as a table, as JSON, and cut by `--limit`.

mod real_server;

use real_server::*;
use std::process::Output;

const CTL: &str = env!("CARGO_BIN_EXE_tenurectl");

fn ctl(setup: &Setup, server: &Server, args: &[&str]) -> Output {
    std::process::Command::new(CTL)
        .arg("audit")
        .args(args)
        .env("TENURE_URL", &server.url)
        .env("TENURE_ADMIN_TOKEN_FILE", setup.path("admin.token"))
        .env_remove("RUST_LOG")
        .env_remove("TENURE_AUDIT_LIMIT")
        .output()
        .expect("run tenurectl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn audit_prints_the_trail_as_a_table_and_as_json() {
    let setup = Setup::new(3600, 10);
    let server = Server::start(&setup, 0, &[]);
    let body = r#"{"product":"vdp","hostname":"audited","port":1,"cores":1}"#;
    let (status, answer) =
        http(&server.url, "POST", "/v1/grants", None, Some(body)).expect("grant");
    assert_eq!(status, 201, "{answer}");
    let grant: serde_json::Value = serde_json::from_str(&answer).expect("grant json");
    let id = grant["grant_id"].as_str().expect("grant id").to_owned();
    assert_eq!(
        server.admin("DELETE", &format!("/v1/admin/grants/{id}")).0,
        204
    );
    let unauthorized = http(&server.url, "GET", "/v1/status", None, None).expect("status");
    assert_eq!(unauthorized.0, 401);

    let o = ctl(&setup, &server, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows:\n{table}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("RESULT"),
        "{table}"
    );
    let words = |l: &str| {
        l.split_whitespace()
            .skip(1)
            .take(4)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // A file of one bare secret is one admin token named `admin` (6.2).
    assert_eq!(words(lines[1]), format!("admin revoke {id} ok"), "{table}");
    assert_eq!(words(lines[2]), "- status GET /v1/status", "{table}");
    assert!(
        lines[2].contains("unauthorized") && lines[2].contains("no token"),
        "{table}"
    );

    let o = ctl(&setup, &server, &["--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["target"], id.as_str());
    assert_eq!(rows[1]["result"], "unauthorized");

    let o = ctl(&setup, &server, &["--limit", "1", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json rows");
    assert_eq!(rows.len(), 1);
    assert!(
        text(&o.stderr).contains("more rows follow"),
        "{}",
        text(&o.stderr)
    );

    let o = ctl(&setup, &server, &["--since", "2999-01-01T00:00:00Z"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 1, "only the header");

    let o = ctl(&setup, &server, &["--since", "yesterday"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--since"), "{}", text(&o.stderr));
}
