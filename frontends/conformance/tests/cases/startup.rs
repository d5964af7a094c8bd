//! Startup refusals (section 2, section 6 TLS rule) and M6 `too_many_managers`.

use super::grant_body;
use crate::support::client::assert_retry_after;
use crate::support::license::{DAY_MS, UNTRUSTED_SEED, now_ms};
use crate::support::server::{run_to_exit, try_run_to_exit};
use crate::support::{Bin, Exited, Fixture, Launch, Server, assert_error, eventually, note};
use serde_json::Value;
use std::time::Duration;

/// M6: a second manager on the same storage with `max_managers = 1` refuses to
/// serve within ~15 s (liveness is 10 s, heartbeat 2 s) and says so with 503s.
pub fn too_many_managers_is_503_with_retry_after(bin: &Bin) {
    let fixture = Fixture::standard("conf-ha-1");
    assert_eq!(fixture.license.max_managers, 1);
    let first = Server::start(bin, Launch::new(&fixture));
    let mut launch = Launch::new(&fixture);
    launch.node_id = "conformance-b".into();
    launch.database = Some(first.database_url());
    let second = Server::start(bin, launch);
    let ping = eventually(Duration::from_secs(15), || {
        let resp = second.get("/pingLicenseManager");
        (resp.status == 503).then_some(resp)
    })
    .unwrap_or_else(|| {
        panic!(
            "the second manager still answers ping: {}",
            second.get("/pingLicenseManager").describe()
        )
    });
    assert_retry_after(&ping);
    let grant = second.grant(&grant_body("vdp", "a", 1, 1));
    assert_error(&grant, 503, "too_many_managers");
    let health = second.get("/v1/health");
    assert_eq!(health.status, 503, "{}", health.describe());
    assert_retry_after(&health);
    let v = health.json();
    assert_eq!(
        v.get("node_id").and_then(Value::as_str),
        Some("conformance-b"),
        "{v}"
    );
    assert_eq!(
        v.get("serving").and_then(Value::as_bool),
        Some(false),
        "{v}"
    );
    // The first manager keeps serving.
    assert_eq!(first.get("/pingLicenseManager").status, 200);
    assert_eq!(first.grant(&grant_body("vdp", "a", 1, 1)).status, 201);
}

pub fn assert_refused(exited: &Exited, about: &str) {
    assert!(
        !exited.status.success(),
        "should exit non-zero, got {:?}; stderr:\n{}",
        exited.status,
        exited.stderr
    );
    let last = exited
        .stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no reason on stderr (status {:?})", exited.status));
    assert!(
        exited.stderr.to_ascii_lowercase().contains(about),
        "the reason should mention {about:?}; last stderr line: {last:?}\nstderr:\n{}",
        exited.stderr
    );
    assert!(
        !exited.stdout.contains("listening"),
        "printed a listening line: {:?}",
        exited.stdout
    );
}

pub fn refuses_not_yet_valid_license(bin: &Bin) {
    let mut fixture = Fixture::standard("conf-future-1");
    let now = now_ms();
    fixture.license.issued_at.0 = now - 60_000;
    fixture.license.not_before.0 = now + DAY_MS;
    fixture.license.not_after.0 = now + 30 * DAY_MS;
    let exited = run_to_exit(bin, Launch::new(&fixture));
    assert_refused(&exited, "license");
}

pub fn refuses_license_from_untrusted_key(bin: &Bin) {
    let fixture = Fixture::standard("conf-untrusted-1");
    let mut launch = Launch::new(&fixture);
    launch.license = fixture.armoured_with(UNTRUSTED_SEED);
    let exited = run_to_exit(bin, launch);
    assert_refused(&exited, "license");
}

/// Section 2 lists invalid, unsigned, not-yet-valid and wrongly keyed licenses
/// as refusals at start; an expired one is not in that list, but section 6 and
/// M7 say an expired license is not served. Either way is accepted here: it
/// refuses to start, or it runs and answers ping 503 and grants 403
/// `license_expired`.
pub fn expired_license_is_not_served(bin: &Bin) {
    let mut fixture = Fixture::standard("conf-expired-1");
    let now = now_ms();
    fixture.license.issued_at.0 = now - 20 * DAY_MS;
    fixture.license.not_before.0 = now - 20 * DAY_MS;
    fixture.license.not_after.0 = now - DAY_MS;
    let launch = Launch::new(&fixture);
    match try_run_to_exit(bin, launch.clone()) {
        Ok(exited) => {
            assert_refused(&exited, "license");
            note("expired license: the manager refused to start");
        }
        Err(_served) => {
            note("expired license: the manager starts; checking it does not grant");
            // It serves: then it must not grant.
            let server = Server::start(bin, launch);
            let ping = server.get("/pingLicenseManager");
            assert_eq!(ping.status, 503, "{}", ping.describe());
            assert_retry_after(&ping);
            assert_error(
                &server.grant(&grant_body("vdp", "a", 1, 1)),
                403,
                "license_expired",
            );
        }
    }
}

pub fn plaintext_refused_on_non_loopback(bin: &Bin) {
    let fixture = Fixture::standard("conf-plain-1");
    let mut launch = Launch::new(&fixture);
    launch.listen = "0.0.0.0:0".into();
    let exited = run_to_exit(bin, launch);
    assert!(!exited.status.success(), "should exit non-zero: {exited:?}");
    assert!(
        exited.stderr.contains("--allow-plaintext"),
        "the reason should mention --allow-plaintext; stderr:\n{}",
        exited.stderr
    );
}

/// A taken port ends the process before it opens storage: the database
/// client's threads would otherwise still be connecting while the process
/// exits, and PostgreSQL's TLS library, torn down by the exit, crashed them
/// (SIGSEGV in about 1 exit of 20 on a busy machine).
pub fn taken_port_is_refused_before_storage(bin: &Bin) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let addr = taken.local_addr().expect("taken address");
    let fixture = Fixture::standard("conf-taken-port-1");
    let mut launch = Launch::new(&fixture);
    launch.listen = addr.to_string();
    let exited = run_to_exit(bin, launch);
    assert_eq!(
        exited.status.code(),
        Some(1),
        "should exit 1 (not by a signal); stderr:\n{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("cannot listen on"),
        "the reason should name the address; stderr:\n{}",
        exited.stderr
    );
    // These lines are logged once storage is open and the license is read.
    for opened in ["license in use", "serving"] {
        assert!(
            !exited.stderr.contains(opened),
            "storage was opened before the port was tried ({opened:?}); stderr:\n{}",
            exited.stderr
        );
    }
    drop(taken);
}

/// M7: a stored license whose `not_before` is still ahead (installed by a
/// peer whose start saw it valid, or the storage clock set back) is not an
/// expired one. The manager starts (its `--license` file is valid; storage
/// holds a newer one), does not serve it: ping 503, health 503 saying why,
/// grants and renewals 503 `license_not_yet_valid` with `Retry-After`; and a
/// grant held from before is kept, not ended.
pub fn not_yet_valid_stored_license_is_not_served(bin: &Bin) {
    let db_dir = tempfile::Builder::new()
        .prefix("tenure-conformance-db-")
        .tempdir()
        .expect("temp dir");
    let database = crate::support::server::sqlite_url(&db_dir.path().join("tenure.db"));
    let fixture = Fixture::standard("conf-future-2");
    let mut launch = Launch::new(&fixture);
    launch.database = Some(database.clone());
    let held = {
        let server = Server::start(bin, launch.clone());
        let resp = server.grant(&grant_body("vdp", "held.example.com", 1, 1));
        assert_eq!(resp.status, 201, "{}", resp.describe());
        let id = resp.json()["grant_id"]
            .as_str()
            .expect("grant_id")
            .to_owned();
        // Stopped cleanly, so the restart below serves at once under the
        // same node id (M6) and the license is all that stops it.
        server.stop();
        id
    };
    let now = now_ms();
    let mut future = Fixture::standard("conf-future-3");
    future.license.issued_at.0 = now;
    future.license.not_before.0 = now + DAY_MS;
    future.license.not_after.0 = now + 30 * DAY_MS;
    install_in_storage(&database, &future.armoured());
    let server = Server::start(bin, launch);
    let ping = server.get("/pingLicenseManager");
    assert_eq!(ping.status, 503, "{}", ping.describe());
    assert_retry_after(&ping);
    let health = server.get("/v1/health");
    assert_eq!(health.status, 503, "{}", health.describe());
    assert_retry_after(&health);
    let v = health.json();
    assert_eq!(v["license_id"].as_str(), Some("conf-future-3"), "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not valid before"),
        "health should say why: {v}"
    );
    let grant = server.grant(&grant_body("vdp", "new.example.com", 1, 1));
    assert_error(&grant, 503, "license_not_yet_valid");
    let renew = server.renew(&held);
    assert_error(&renew, 503, "license_not_yet_valid");
    // A restart of the held instance does not replace (or end) its grant.
    let restart = server.grant(&grant_body("vdp", "held.example.com", 1, 1));
    assert_error(&restart, 503, "license_not_yet_valid");
    let listing = server.admin("GET", "/v1/grants", None);
    assert_eq!(listing.status, 200, "{}", listing.describe());
    let listing = listing.json();
    let grants = crate::support::json_array(&listing, &["grants"]);
    assert_eq!(grants.len(), 1, "{listing}");
    assert_eq!(grants[0]["grant_id"].as_str(), Some(held.as_str()));
    let usage = server.admin("GET", "/v1/usage", None).json();
    assert!(
        crate::support::json_array(&usage, &["usage", "rows"]).is_empty(),
        "no grant ended: {usage}"
    );
}

/// Puts `armoured` into the database at `url` as a peer manager's start
/// would (newer than the stored one), without a validity check of its own.
fn install_in_storage(url: &str, armoured: &str) {
    use tenure_storage::{DieselStore, InstallPolicy, Installed, Manager, StoreOptions};
    let store = DieselStore::connect(url, StoreOptions::default()).expect("open the database");
    let key =
        tenure_core::license::VerifyingKey::from_armoured(&crate::support::license::vendor_pub())
            .expect("vendor key");
    let manager = Manager::new(store, Default::default(), vec![key]);
    let out = manager.install_license(armoured, InstallPolicy::IfNewer);
    assert!(matches!(out, Ok(Installed::Installed { .. })), "{out:?}");
}
