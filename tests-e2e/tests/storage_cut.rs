//! A network that stops carrying the database's bytes (a TCP proxy in front
//! of PostgreSQL, or MariaDB, that drops everything, telling neither end),
//! for both binaries: a request that reaches storage answers 503 with `Retry-After`
//! once `--db-statement-timeout` has passed, instead of waiting on a query
//! whose answer will never come; when the bytes flow again the manager
//! serves again by itself; nothing it acknowledged is lost (M4).
//!
//! Binaries come from `<target>/debug/`: build them first with
//! `cargo build -p tenure-tokio -p tenure-smol --bins`.

#[allow(unused_imports)]
mod support;

use serde_json::json;
use std::time::Duration;
use support::cut_proxy::Proxy;
use support::db::Kind;
use support::manager::Launch;
use support::*;
use tenure_testkit::{Need, trial};

const GRACE_S: u64 = 3600;
const STATEMENT_TIMEOUT: &str = "2s";
/// How long the test waits for an answer, for the return to service:
/// bounds for a test that would otherwise hang, far above what is expected
/// (the answer at the statement timeout; the return within the session
/// idle limit the statement timeout sets, 12 s here).
const CLIENT_WAIT: Duration = Duration::from_secs(10);
const RECOVERY_WAIT: Duration = Duration::from_secs(90);

fn grant(m: &Manager, host: &str) -> support::http::Response {
    let body = json!({"product": "vdp", "hostname": host, "port": 9999, "cores": 2}).to_string();
    m.call("POST", "/v1/grants", Some(&body))
        .unwrap_or_else(|e| panic!("grant on {}: {e}", m.node_id()))
}

fn renew(m: &Manager, id: &str) -> Result<support::http::Response, String> {
    m.call("POST", &format!("/v1/grants/{id}/renew"), None)
}

fn storage_cut(flavor: Flavor, kind: Kind) {
    let case = format!("storage-cut-{}-{kind:?}", flavor.file_name());
    let bin = needed(&case, flavor.binary());
    let _serial = serial();
    let db = Database::create(kind).unwrap_or_else(|e| {
        panic!("cannot create a database (run .ci/setup-services.sh first): {e}")
    });
    let port = match kind {
        Kind::Postgres => 5432,
        Kind::MariaDb => 3306,
    };
    let proxy = Proxy::start(port);
    let url = db
        .url()
        .replace(&format!(":{port}/"), &format!(":{}/", proxy.port));
    let setup = Setup::new(&case, 2, GRACE_S, &[("vdp", 10)]);
    let mut launch = Launch::new(&bin, &url, "cut", free_port());
    launch.args = vec!["--db-statement-timeout".into(), STATEMENT_TIMEOUT.into()];
    let m = Manager::start(&setup, &launch);
    assert!(m.wait_ping(200, Duration::from_secs(15)), "{}", m.log());
    // Acknowledged before the cut: four grants and a renewal of each.
    let mut acked = Vec::new();
    for host in ["h1", "h2", "h3", "h4"] {
        let g = grant(&m, host);
        assert_eq!(g.status, 201, "{}", g.body);
        let id = g.json()["grant_id"].as_str().expect("grant id").to_owned();
        let r = renew(&m, &id).expect("renew");
        assert_eq!(r.status, 200, "{}", r.body);
        acked.push(id);
    }

    proxy.cut();
    // At once, while the last heartbeat still holds (M6): these reach
    // storage and wait there. Each is answered, 503 with Retry-After,
    // never left hanging (the client gives up after CLIENT_WAIT).
    for id in &acked[..2] {
        let r = renew(&m, id).unwrap_or_else(|e| {
            panic!(
                "a renewal during the cut was not answered within {CLIENT_WAIT:?}: {e}\n{}",
                m.log()
            )
        });
        assert_eq!(
            (r.status, r.error_code().as_deref()),
            (503, Some("storage_unavailable")),
            "{}",
            r.body
        );
        assert!(r.retry_after.is_some(), "503 without Retry-After");
        assert!(
            !r.body.contains("127.0.0.1")
                && !r.body.contains("postgres")
                && !r.body.contains("root"),
            "the database's own words reached a client: {}",
            r.body
        );
    }
    let g = grant(&m, "h5");
    assert_eq!(g.status, 503, "{}", g.body);
    assert!(g.retry_after.is_some());
    assert!(
        m.full_log()
            .contains("storage did not answer within the statement timeout"),
        "{}",
        m.log()
    );

    proxy.restore();
    let back = wait_until(RECOVERY_WAIT, || {
        m.ping() == Some(200) && renew(&m, &acked[0]).is_ok_and(|r| r.status == 200)
    });
    assert!(
        back,
        "the manager did not serve again within {RECOVERY_WAIT:?} of the network coming back:\n{}",
        m.log()
    );
    // Nothing acknowledged was lost: every grant is held and renews.
    for id in &acked {
        let r = renew(&m, id).expect("renew");
        assert_eq!(r.status, 200, "grant {id}: {}", r.body);
    }
    let held: Vec<String> = m
        .grants()
        .iter()
        .filter_map(|g| g["hostname"].as_str().map(str::to_owned))
        .collect();
    for host in ["h1", "h2", "h3", "h4"] {
        assert!(held.iter().any(|h| h == host), "{host} in {held:?}");
    }
    assert!(grant(&m, "h6").status == 201, "grants work again");
}

fn storage_cut_answers_503_then_recovers_tenured() {
    storage_cut(Flavor::Tokio, Kind::Postgres);
}

fn storage_cut_answers_503_then_recovers_tenured_smol() {
    storage_cut(Flavor::Smol, Kind::Postgres);
}

/// MariaDB ends idle sessions by its `wait_timeout`, which the statement
/// timeout sets as it sets PostgreSQL's idle limits.
fn storage_cut_answers_503_then_recovers_tenured_mariadb() {
    storage_cut(Flavor::Tokio, Kind::MariaDb);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "storage_cut_answers_503_then_recovers_tenured",
            &[TENURED, Need::Postgres],
            storage_cut_answers_503_then_recovers_tenured,
        ),
        trial(
            "storage_cut_answers_503_then_recovers_tenured_smol",
            &[TENURED_SMOL, Need::Postgres],
            storage_cut_answers_503_then_recovers_tenured_smol,
        ),
        trial(
            "storage_cut_answers_503_then_recovers_tenured_mariadb",
            &[TENURED, Need::MariaDb],
            storage_cut_answers_503_then_recovers_tenured_mariadb,
        ),
    ])
}
