//! Manager rules on real processes, for both binaries: one node id served by
//! one process only (M6), the serving gate failing closed when storage stops
//! answering or answers a heartbeat with an error (M6), and an embedded
//! SQLite manager whose clock is set back keeping an expired license expired
//! (T3).
//!
//! Binaries come from `<target>/debug/`: build them first with
//! `cargo build -p tenure-tokio -p tenure-smol --bins`.

#[allow(unused_imports)]
mod support;

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use support::cut_proxy::Proxy;
use support::db::Kind;
use support::manager::Launch;
use support::*;
use tenure_testkit::{Need, trial};

const GRACE_S: u64 = 3600;
/// `tenure_core::health::SERVE_WINDOW`: how long a manager serves on the
/// word of its last successful heartbeat.
const SERVE_WINDOW: Duration = Duration::from_secs(6);
/// Scheduling noise on a loaded 2-core machine.
const TOLERANCE: Duration = Duration::from_millis(1500);

fn database(kind: Kind) -> Database {
    Database::create(kind).unwrap_or_else(|e| {
        panic!("cannot create a database (run .ci/setup-services.sh first): {e}")
    })
}

fn grant(m: &Manager, host: &str) -> support::http::Response {
    let body = json!({"product": "vdp", "hostname": host, "port": 9999, "cores": 2}).to_string();
    m.call("POST", "/v1/grants", Some(&body))
        .unwrap_or_else(|e| panic!("grant on {}: {e}", m.node_id()))
}

/// Pings `m` until `limit`; every answer must be `want`.
fn holds_ping(m: &Manager, want: u16, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        assert_eq!(m.ping(), Some(want), "{}: {}", m.node_id(), m.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ------------------------------------------------------------- one node id

fn one_node_id(flavor: Flavor) {
    let case = format!("one-node-id-{}", flavor.file_name());
    let bin = needed(&case, flavor.binary());
    let _serial = serial();
    let db = database(Kind::Postgres);
    let setup = Setup::new(&case, 2, GRACE_S, &[("vdp", 10)]);
    let mut first = Manager::start(&setup, &Launch::new(&bin, &db.url(), "same", free_port()));
    assert!(
        first.wait_ping(200, Duration::from_secs(15)),
        "{}",
        first.log()
    );
    let second = Manager::start(&setup, &Launch::new(&bin, &db.url(), "same", free_port()));
    // Its first heartbeat ran before it listened: it never serves.
    holds_ping(&second, 503, Duration::from_secs(5));
    assert_eq!(first.ping(), Some(200), "{}", first.log());
    let health = second.health();
    assert_eq!(health["serving"], false, "{health}");
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("another live manager process uses node id \"same\""),
        "{health}"
    );
    let g = grant(&second, "h1");
    assert_eq!(
        (g.status, g.error_code().as_deref()),
        (503, Some("too_many_managers")),
        "{}",
        g.body
    );
    assert!(
        second
            .log()
            .contains("another live manager process uses node id"),
        "the refusing process does not say why in its log: {}",
        second.log()
    );
    assert_eq!(grant(&first, "h1").status, 201, "the first process serves");
    // The first dies without deregistering: once it is dead, the second
    // process takes the node id over.
    first.sigkill();
    assert!(
        second.wait_ping(200, Duration::from_secs(15)),
        "{}",
        second.log()
    );
}

fn one_node_id_serves_once_tenured() {
    one_node_id(Flavor::Tokio);
}

fn one_node_id_serves_once_tenured_smol() {
    one_node_id(Flavor::Smol);
}

// ------------------------------------------------------------ fail closed

fn fails_closed(flavor: Flavor) {
    let case = format!("fail-closed-{}", flavor.file_name());
    let bin = needed(&case, flavor.binary());
    let _serial = serial();
    let db = database(Kind::Postgres);
    let proxy = Proxy::start(5432);
    let url = db.url().replace(":5432/", &format!(":{}/", proxy.port));
    let setup = Setup::new(&case, 2, GRACE_S, &[("vdp", 10)]);
    let m = Manager::start(&setup, &Launch::new(&bin, &url, "cut-off", free_port()));
    assert!(m.wait_ping(200, Duration::from_secs(15)), "{}", m.log());
    assert_eq!(grant(&m, "h1").status, 201);
    // The network drops everything: the heartbeat in flight hangs, none fails.
    let cut = Instant::now();
    proxy.cut();
    let limit = SERVE_WINDOW + TOLERANCE;
    let stopped = wait_until(limit + Duration::from_secs(5), || m.ping() == Some(503));
    let took = cut.elapsed();
    assert!(
        stopped && took <= limit,
        "still serving {} after storage stopped answering (window {}): {}",
        secs(took),
        secs(SERVE_WINDOW),
        m.log()
    );
    note(&format!(
        "FIGURES {case}: ping 503 {} after the database connection was cut (window {})",
        secs(took),
        secs(SERVE_WINDOW)
    ));
    // Every API call is refused at once, without waiting on storage.
    let asked = Instant::now();
    let g = grant(&m, "h2");
    assert_eq!(
        (g.status, g.error_code().as_deref()),
        (503, Some("storage_unavailable")),
        "{}",
        g.body
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the grant waited on storage"
    );
    let health = m.health();
    assert_eq!(health["serving"], false, "{health}");
    assert_eq!(health["storage_ok"], false, "{health}");
    holds_ping(&m, 503, Duration::from_secs(3));
}

fn fails_closed_when_storage_stops_answering_tenured() {
    fails_closed(Flavor::Tokio);
}

fn fails_closed_when_storage_stops_answering_tenured_smol() {
    fails_closed(Flavor::Smol);
}

/// The database answers every heartbeat with an error at once (its managers
/// table is gone) instead of hanging: the first heartbeat that fails closes
/// the gate, without waiting for the serve window of the last successful one
/// to run out (M6, I7).
fn fails_closed_on_a_heartbeat_error(flavor: Flavor) {
    let case = format!("heartbeat-error-{}", flavor.file_name());
    let bin = needed(&case, flavor.binary());
    let _serial = serial();
    let db = database(Kind::Postgres);
    let setup = Setup::new(&case, 2, GRACE_S, &[("vdp", 10)]);
    let m = Manager::start(&setup, &Launch::new(&bin, &db.url(), "erring", free_port()));
    assert!(m.wait_ping(200, Duration::from_secs(15)), "{}", m.log());
    assert_eq!(grant(&m, "h1").status, 201);
    let broken = Instant::now();
    db.execute("ALTER TABLE managers RENAME TO managers_gone")
        .unwrap_or_else(|e| panic!("test set-up: {e}"));
    let failed = wait_until(SERVE_WINDOW, || m.full_log().contains("heartbeat failed"));
    let took = broken.elapsed();
    assert!(
        failed,
        "test set-up: no heartbeat failed within {} of the managers table going: {}",
        secs(SERVE_WINDOW),
        m.log()
    );
    // The state is recorded just after the log line is written.
    std::thread::sleep(Duration::from_millis(200));
    let ping = m.ping();
    let g = grant(&m, "h2");
    note(&format!(
        "FIGURES {case}: first heartbeat error {} after the managers table went; ping then {ping:?}, grant {}",
        secs(took),
        g.status
    ));
    assert_eq!(
        ping,
        Some(503),
        "still serving after a failed heartbeat ({} after the managers table went, serve window {}): {}",
        secs(took),
        secs(SERVE_WINDOW),
        m.log()
    );
    assert_eq!(g.status, 503, "{}", g.body);
}

fn fails_closed_at_the_first_heartbeat_error_tenured() {
    fails_closed_on_a_heartbeat_error(Flavor::Tokio);
}

fn fails_closed_at_the_first_heartbeat_error_tenured_smol() {
    fails_closed_on_a_heartbeat_error(Flavor::Smol);
}

// ------------------------------------------------------- T3 on SQLite

fn set_offset(file: &Path, offset: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, format!("{offset}\n")).expect("write the offset");
    std::fs::rename(&tmp, file).expect("move the offset in place");
}

fn expired_reason(m: &Manager) -> bool {
    m.health()["reason"]
        .as_str()
        .is_some_and(|r| r.contains("expired"))
}

fn sqlite_clock_set_back(flavor: Flavor) {
    let case = format!("sqlite-set-back-{}", flavor.file_name());
    let bin = needed(&case, flavor.binary());
    let lib = needed(&case, tenure_testkit::libfaketime());
    let _serial = serial();
    // The license runs 30 days; the clock starts 40 days ahead.
    let setup = Setup::new(&case, 1, GRACE_S, &[("vdp", 10)]);
    let offset = setup.path("faketime");
    set_offset(&offset, "+40d");
    let db = format!("sqlite://{}", setup.path("tenure.db").display());
    let mut launch = Launch::new(&bin, &db, "embedded", free_port());
    launch.env = vec![
        ("LD_PRELOAD".into(), lib.into()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            offset.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ];
    let mut m = Manager::start(&setup, &launch);
    assert!(
        wait_until(Duration::from_secs(10), || m.ping() == Some(503)
            && expired_reason(&m)),
        "the license should be expired 40 days ahead: {}\n{}",
        m.health(),
        m.log()
    );
    let mark = m.health()["storage_clock"]["high_water_ms"]
        .as_i64()
        .unwrap_or(0);
    assert!(mark > license::now_ms() + 39 * 86_400_000, "{}", m.health());

    // The clock is set back 40 days, below not_after.
    set_offset(&offset, "+0");
    let reported = wait_until(Duration::from_secs(8), || {
        m.health()["storage_clock"]["last_step"]["size_ms"]
            .as_i64()
            .is_some_and(|s| s < -39 * 86_400_000)
    });
    assert!(reported, "the step back is not reported: {}", m.health());
    holds_ping(&m, 503, Duration::from_secs(3));
    assert!(expired_reason(&m), "{}", m.health());
    let g = grant(&m, "h1");
    assert_eq!(
        (g.status, g.error_code().as_deref()),
        (403, Some("license_expired")),
        "{}",
        g.body
    );
    assert!(
        m.log().contains("storage clock stepped back"),
        "no log line for the step: {}",
        m.log()
    );

    // A restart at the same clock: the step on record explains the gap
    // below the mark, so it is not recorded a second time.
    assert!(m.sigterm(Duration::from_secs(10)).is_some(), "{}", m.log());
    let mut m = Manager::start(&setup, &launch);
    holds_ping(&m, 503, Duration::from_secs(3));
    assert!(expired_reason(&m), "{}", m.health());
    let clock = m.health()["storage_clock"].clone();
    assert_eq!(
        (clock["steps"].as_u64(), clock["steps_seen_here"].as_u64()),
        (Some(1), Some(0)),
        "{clock}"
    );

    // Set back a day further while it is down: a restart finds a step no
    // one recorded.
    assert!(m.sigterm(Duration::from_secs(10)).is_some(), "{}", m.log());
    set_offset(&offset, "-1d");
    let m = Manager::start(&setup, &launch);
    assert!(
        wait_until(
            Duration::from_secs(5),
            || m.health()["storage_clock"]["steps_seen_here"].as_u64() == Some(1)
        ),
        "{}",
        m.health()
    );
    assert_eq!(m.health()["storage_clock"]["steps"].as_u64(), Some(2));
    holds_ping(&m, 503, Duration::from_secs(3));
    assert!(expired_reason(&m), "{}", m.health());
}

fn sqlite_clock_set_back_keeps_an_expired_license_expired_tenured() {
    sqlite_clock_set_back(Flavor::Tokio);
}

fn sqlite_clock_set_back_keeps_an_expired_license_expired_tenured_smol() {
    sqlite_clock_set_back(Flavor::Smol);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "one_node_id_serves_once_tenured",
            &[TENURED, Need::Postgres],
            one_node_id_serves_once_tenured,
        ),
        trial(
            "one_node_id_serves_once_tenured_smol",
            &[TENURED_SMOL, Need::Postgres],
            one_node_id_serves_once_tenured_smol,
        ),
        trial(
            "fails_closed_when_storage_stops_answering_tenured",
            &[TENURED, Need::Postgres],
            fails_closed_when_storage_stops_answering_tenured,
        ),
        trial(
            "fails_closed_when_storage_stops_answering_tenured_smol",
            &[TENURED_SMOL, Need::Postgres],
            fails_closed_when_storage_stops_answering_tenured_smol,
        ),
        trial(
            "fails_closed_at_the_first_heartbeat_error_tenured",
            &[TENURED, Need::Postgres],
            fails_closed_at_the_first_heartbeat_error_tenured,
        ),
        trial(
            "fails_closed_at_the_first_heartbeat_error_tenured_smol",
            &[TENURED_SMOL, Need::Postgres],
            fails_closed_at_the_first_heartbeat_error_tenured_smol,
        ),
        trial(
            "sqlite_clock_set_back_keeps_an_expired_license_expired_tenured",
            &[TENURED, Need::LibFaketime],
            sqlite_clock_set_back_keeps_an_expired_license_expired_tenured,
        ),
        trial(
            "sqlite_clock_set_back_keeps_an_expired_license_expired_tenured_smol",
            &[TENURED_SMOL, Need::LibFaketime],
            sqlite_clock_set_back_keeps_an_expired_license_expired_tenured_smol,
        ),
    ])
}
