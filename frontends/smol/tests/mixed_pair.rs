//! One `tenured` (tokio) and one `tenured-smol` on one PostgreSQL database
//! serve the same grants: a grant made on one renews and releases on the other.

mod support;

use support::*;
use tenure_testkit::{Need, trial};

fn a_grant_made_on_one_frontend_renews_on_the_other() {
    let tokio_bin = tokio_bin();
    let db = PgDb::create();
    let fx = Fixture::new(2, 3600);
    // One at a time: the first migrates the fresh database.
    let tokio = Server::start(&tokio_bin, &fx, &db.url, &["--node-id", "tokio-1"]);
    let smol = Server::start(&smol_bin(), &fx, &db.url, &["--node-id", "smol-1"]);
    for s in [&tokio, &smol] {
        let ping = call(s.addr, "GET", "/pingLicenseManager", &[], b"");
        assert_eq!(
            (ping.status, ping.text()),
            (200, "OK".to_owned()),
            "{}",
            s.log_text()
        );
    }

    for (made, other) in [(&tokio, &smol), (&smol, &tokio)] {
        let id = grant(
            made.addr,
            &format!("mixed-{}.example.com", made.addr.port()),
        );
        let renewed = call(
            other.addr,
            "POST",
            &format!("/v1/grants/{id}/renew"),
            &[JSON],
            br#"{"client_time_ms":1}"#,
        );
        assert_eq!(renewed.status, 200, "{}", renewed.text());
        assert_eq!(renewed.json()["grant_id"], id.as_str());
        let back = call(
            made.addr,
            "POST",
            &format!("/v1/grants/{id}/renew"),
            &[],
            b"",
        );
        assert_eq!(back.status, 200, "{}", back.text());
        let released = call(other.addr, "DELETE", &format!("/v1/grants/{id}"), &[], b"");
        assert_eq!(released.status, 204);
        let gone = call(
            made.addr,
            "POST",
            &format!("/v1/grants/{id}/renew"),
            &[],
            b"",
        );
        assert_eq!(gone.status, 404);
        assert_eq!(gone.json()["error"], "unknown_grant");
    }

    // Both see both managers in the registry, and the same answers to bad input.
    let status = call(smol.addr, "GET", "/v1/status", &[ADMIN], b"").json();
    let nodes: Vec<&str> = status["managers"]
        .as_array()
        .expect("managers")
        .iter()
        .filter_map(|m| m["node_id"].as_str())
        .collect();
    assert!(
        nodes.contains(&"tokio-1") && nodes.contains(&"smol-1"),
        "{nodes:?}"
    );
    let bad = |s: &Server| {
        let a = call(
            s.addr,
            "POST",
            "/v1/grants",
            &[JSON],
            br#"{"product":"vdp"}"#,
        );
        (
            a.status,
            a.header("content-type").map(str::to_owned),
            a.json(),
        )
    };
    assert_eq!(bad(&tokio), bad(&smol));
    let anon = |s: &Server| {
        let a = call(s.addr, "GET", "/v1/grants", &[], b"");
        (a.status, a.json())
    };
    assert_eq!(anon(&tokio), anon(&smol));
    drop((tokio, smol));
    drop(db);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![trial(
        "a_grant_made_on_one_frontend_renews_on_the_other",
        &[Need::Built("tenured"), Need::Postgres],
        a_grant_made_on_one_frontend_renews_on_the_other,
    )])
}
