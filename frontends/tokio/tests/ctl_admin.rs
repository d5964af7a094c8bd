//! The admin commands of the real `tenurectl` binary against a fake admin API
//! (a raw HTTP/1.1 test double on 127.0.0.1; the real server comes later).

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CTL: &str = env!("CARGO_BIN_EXE_tenurectl");
const TOKEN: &str = "s3cret-token";
const GRANT: &str = "0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn fake_admin() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let mut head_end = None;
                let mut length = 0;
                for _ in 0..100 {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if head_end.is_none()
                        && let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                    {
                        head_end = Some(i + 4);
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                    }
                    if let Some(end) = head_end
                        && buf.len() >= end + length
                    {
                        break;
                    }
                }
                let end = head_end.unwrap_or(buf.len());
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let body = String::from_utf8_lossy(&buf[end..]).to_string();
                let (status, answer) = respond(&head);
                seen.lock().expect("lock").push(Seen { head, body });
                let out = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = stream.write_all(out.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, log)
}

fn respond(head: &str) -> (u16, String) {
    if !head.contains(&format!("authorization: Bearer {TOKEN}"))
        && !head.contains(&format!("Authorization: Bearer {TOKEN}"))
    {
        return (
            401,
            r#"{"error":"unauthorized","message":"missing or wrong admin token"}"#.into(),
        );
    }
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/v1/status") => (200, r#"{"license_id":"ACME-1","licensee":"Acme Corp","license_not_after_ms":4102444800000,"license_expires_in_s":86400,"max_managers":2,
            "pools":[{"environment":"production","product":"vdp","servers":3,"total_cores":24,"max_servers":4,"max_total_cores":48}],
            "managers":[{"node_id":"lm1","live":true,"serving":true,"last_seen_ms":1763856000000,"clock_offset_ms":12}],"server_time_ms":1763856000000}"#.into()),
        ("GET", "/v1/grants") => (200, format!(r#"[{{"grant_id":"{GRANT}","environment":"production","product":"vdp","hostname":"vdp1.example.com","port":9999,"cores":8,
            "state":"grace","granted_ms":1763856000000,"last_renewed_ms":1763856300000,"held_until_ms":1764288900000,"client_skew_ms":-40}}]"#)),
        ("GET", "/v1/usage") => (200, format!(r#"[{{"grant_id":"{GRANT}","environment":"production","product":"vdp","hostname":"vdp2.example.com","port":9999,"cores":8,
            "first_request_ms":1763856000000,"last_request_ms":1763856300000,"ended_ms":1763856400000,"end_reason":"revoked","license_id":"ACME-0"}}]"#)),
        ("GET", "/v1/reports/usage") if path.contains("format=csv") => (200,
            "period_start,environment,product\r\n2026-01-01,production,vdp\r\n".into()),
        ("GET", "/v1/reports/usage") => (200, r#"{"by":"month","from":"2026-01-01","to":"2026-02-01","until":"2026-02-01T00:00:00Z","rows":[
            {"period_start":"2026-01-01","environment":"production","product":"vdp","peak_servers":3,"peak_cores":24,"server_hours":1.5,"core_hours":12.0,
             "server_ms":5400000,"core_ms":43200000,"grants_started":2,"grants_ended":{"released":1,"replaced":0,"revoked":0,"grace_exceeded":0,"license_expired":0,"admin_released":1},
             "license_id":"ACME-1"}]}"#.into()),
        ("POST", "/v1/admin/release") => (204, String::new()),
        ("DELETE", p) if p == format!("/v1/admin/grants/{GRANT}") => (204, String::new()),
        ("DELETE", _) => (404, r#"{"error":"unknown_grant","message":"no such grant"}"#.into()),
        ("PUT", "/v1/license") => (200, r#"{"license_id":"ACME-2"}"#.into()),
        _ => (404, r#"{"error":"not_found","message":"no such path"}"#.into()),
    }
}

async fn ctl(url: &str, token_file: &std::path::Path, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(CTL)
        .args(args)
        .env("TENURE_URL", url)
        .env("TENURE_ADMIN_TOKEN_FILE", token_file)
        .env_remove("RUST_LOG")
        .output();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("tenurectl exits in time")
        .expect("run tenurectl")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test]
async fn admin_commands_speak_the_admin_api() {
    let (url, log) = fake_admin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("  {TOKEN}  \nsecond line ignored\n")).expect("write");

    let o = ctl(&url, &token, &["status"]).await;
    assert!(o.status.success(), "{}", err(&o));
    for expected in [
        "ACME-1",
        "Acme Corp",
        "production/vdp",
        "3/4",
        "24/48",
        "lm1",
    ] {
        assert!(
            out(&o).contains(expected),
            "{expected:?} not in\n{}",
            out(&o)
        );
    }

    let o = ctl(&url, &token, &["grants"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains(GRANT) && out(&o).contains("grace") && out(&o).contains("-40 ms"),
        "{}",
        out(&o)
    );

    let o = ctl(&url, &token, &["grants", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&out(&o)).expect("--json prints JSON");
    assert_eq!(json[0]["grant_id"], GRANT);

    let o = ctl(&url, &token, &["usage", "--since", "2025-11-01T00:00:00Z"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("revoked")
            && out(&o).contains("vdp2.example.com")
            && out(&o).contains("ACME-0"),
        "{}",
        out(&o)
    );

    let o = ctl(
        &url,
        &token,
        &[
            "report",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--by",
            "month",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    for expected in [
        "PEAK SERVERS",
        "2026-01-01",
        "production/vdp",
        "1.500000",
        "12.000000",
        "released=1 admin_released=1",
        "ACME-1",
    ] {
        assert!(
            out(&o).contains(expected),
            "{expected:?} not in\n{}",
            out(&o)
        );
    }
    let o = ctl(
        &url,
        &token,
        &["report", "--from", "2026-01-01", "--format", "csv"],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("period_start,"), "{}", out(&o));
    let o = ctl(
        &url,
        &token,
        &["report", "--from", "2026-01-01", "--format", "json"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&out(&o)).expect("json");
    assert_eq!(json["rows"][0]["peak_cores"], 24);
    let o = ctl(&url, &token, &["report", "--from", "last week"]).await;
    assert!(
        !o.status.success() && err(&o).contains("--from"),
        "{}",
        err(&o)
    );

    let o = ctl(
        &url,
        &token,
        &[
            "release",
            "--product",
            "vdp",
            "--hostname",
            "vdp1.example.com",
            "--port",
            "9999",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));

    let o = ctl(&url, &token, &["revoke", GRANT]).await;
    assert!(o.status.success(), "{}", err(&o));

    let license = dir.path().join("license.lic");
    std::fs::write(&license, "-----BEGIN TENURE LICENSE-----\n...\n").expect("write");
    let o = ctl(
        &url,
        &token,
        &["install-license", license.to_str().expect("utf-8")],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));

    let seen = log.lock().expect("lock").clone();
    let find = |start: &str| {
        seen.iter()
            .find(|s| s.head.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} in {seen:?}"))
            .clone()
    };
    assert!(
        find("GET /v1/usage?since=2025-11-01T00:00:00Z ")
            .head
            .contains("Bearer")
    );
    let release = find("POST /v1/admin/release ");
    let body: serde_json::Value = serde_json::from_str(&release.body).expect("json body");
    assert_eq!(body["product"], "vdp");
    assert_eq!(body["port"], 9999);
    assert!(
        release
            .head
            .to_lowercase()
            .contains("content-type: application/json")
    );
    find(&format!("DELETE /v1/admin/grants/{GRANT} "));
    let put = find("PUT /v1/license ");
    assert!(put.head.to_lowercase().contains("content-type: text/plain"));
    assert!(put.body.starts_with("-----BEGIN TENURE LICENSE-----"));
}

#[tokio::test]
async fn error_bodies_print_code_and_message_and_fail() {
    let (url, _log) = fake_admin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-token\n").expect("write");
    let o = ctl(&url, &wrong, &["status"]).await;
    assert!(!o.status.success());
    assert!(
        err(&o).contains("error: unauthorized: missing or wrong admin token"),
        "{}",
        err(&o)
    );

    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("write");
    let o = ctl(
        &url,
        &token,
        &["revoke", "ffffffffffffffffffffffffffffffff"],
    )
    .await;
    assert!(!o.status.success());
    assert!(
        err(&o).contains("error: unknown_grant: no such grant"),
        "{}",
        err(&o)
    );

    let o = ctl(&url, &token, &["revoke", "not-a-grant"]).await;
    assert!(!o.status.success());
    assert!(err(&o).contains("GRANT_ID"), "{}", err(&o));
}

#[tokio::test]
async fn plain_http_off_loopback_is_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("write");
    // Port 1 refuses at once on both: the warning comes before the request.
    let warning = "the admin token and the answers travel unencrypted";
    for (url, warned) in [
        ("http://0.0.0.0:1", true),
        ("http://127.0.0.1:1", false),
        ("http://localhost:1", false),
        ("https://0.0.0.0:1", false),
    ] {
        let o = ctl(url, &token, &["status", "--request-timeout", "2s"]).await;
        assert!(!o.status.success(), "{url}: nothing listens");
        assert_eq!(err(&o).contains(warning), warned, "{url}: {}", err(&o));
    }
}
