//! Active-passive HA end to end: two real managers on one shared
//! database (PostgreSQL, and MariaDB for one case) behind HAProxy running
//! `docs/ha/haproxy.cfg`, with a fleet of `tenure-agent` processes wrapping
//! real commands. Every case prints its measured figures on lines starting
//! with `FIGURES`. Cases run one at a time (timings on a 2-core machine).
//!
//! Binaries come from `<target>/debug/` (CARGO_TARGET_DIR or
//! `<workspace>/target`): build them first with
//! `cargo build --workspace --bins`. A missing binary or
//! HAProxy fails the case under CI=true and is reported as ignored otherwise.

mod support;

use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::db::Kind;
use support::haproxy::{self, detection};
use support::manager::{Launch, RENEW_EVERY};
use support::*;
use tenure_testkit::{Need, trial};

/// Grace period of the licenses: long enough to ride out every outage here.
const GRACE_S: u64 = 60;
/// M2's default reclaim margin, which `held_until` includes.
const RECLAIM_MARGIN_MS: i64 = 600_000;
/// Scheduling noise allowed on a loaded 2-core machine above each target.
const TOLERANCE: Duration = Duration::from_millis(500);

/// Binaries a case needs.
struct Bins {
    primary: PathBuf,
    secondary: PathBuf,
    agent: PathBuf,
    haproxy: PathBuf,
}

fn bins(primary: Flavor, secondary: Flavor) -> Result<Bins, String> {
    Ok(Bins {
        primary: primary.binary()?,
        secondary: secondary.binary()?,
        agent: agent_binary()?,
        haproxy: haproxy::binary()?,
    })
}

fn database(kind: Kind) -> Database {
    Database::create(kind).unwrap_or_else(|e| {
        panic!("cannot create a database (run .ci/setup-services.sh first): {e}")
    })
}

/// Two managers on one database behind HAProxy. Fields drop in order:
/// HAProxy, managers, then the database and the files.
struct Pair {
    lb: Haproxy,
    primary: Manager,
    secondary: Manager,
    db_url: String,
    setup: Setup,
}

impl Pair {
    fn start(bins: &Bins, setup: Setup, db_url: &str) -> Self {
        let primary = Manager::start(
            &setup,
            &Launch::new(&bins.primary, db_url, "primary", free_port()),
        );
        let secondary = Manager::start(
            &setup,
            &Launch::new(&bins.secondary, db_url, "secondary", free_port()),
        );
        assert!(
            primary.wait_ping(200, Duration::from_secs(15)),
            "primary never served: {}",
            primary.log()
        );
        assert!(
            secondary.wait_ping(200, Duration::from_secs(15)),
            "secondary never served: {}",
            secondary.log()
        );
        let lb = Haproxy::start(&bins.haproxy, primary.addr, secondary.addr);
        for s in ["primary", "secondary"] {
            assert!(
                lb.wait_status(s, "UP", Duration::from_secs(10)),
                "haproxy never saw {s} UP: {}\n{}",
                lb.status(s),
                lb.log()
            );
            // HAProxy starts a server UP before any check: wait for a
            // passed HTTP check (L7OK, 200), not just the initial state.
            let check = || (lb.stat(s, "check_status"), lb.stat(s, "check_code"));
            let passed = (Some("L7OK".to_owned()), Some("200".to_owned()));
            assert!(
                support::wait_until(Duration::from_secs(10), || check() == passed
                    && lb.status(s).starts_with("UP")),
                "{s}: HAProxy's last check {:?}, status {}\n{}",
                check(),
                lb.status(s),
                lb.log()
            );
        }
        Self {
            lb,
            primary,
            secondary,
            db_url: db_url.into(),
            setup,
        }
    }
}

fn grant_body(product: &str, host: &str) -> String {
    json!({"product": product, "hostname": host, "port": 9999, "cores": 2}).to_string()
}

// ---------------------------------------------------------------- failover

/// SIGKILL the primary while `n` agents renew through HAProxy; then, if
/// `failback`, start it again and check traffic returns to it.
fn failover(case: &str, kind: Kind, flavors: (Flavor, Flavor), n: usize, failback: bool) {
    let bins = needed(case, bins(flavors.0, flavors.1));
    let _serial = serial();
    let db = database(kind);
    let setup = Setup::new(case, 2, GRACE_S, &[("vdp", 100)]);
    let mut pair = Pair::start(&bins, setup, &db.url());
    let mut fleet = Fleet::start(&bins.agent, &pair.lb.url, "vdp", case, n);
    assert!(
        fleet.wait_started(Duration::from_secs(30)),
        "not every agent started: {}",
        fleet.logs(&[], 3)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        pair.primary.grants().len(),
        n,
        "grants held before the kill"
    );
    let before = pair.lb.sessions("secondary");

    // Failover.
    let killed = Instant::now();
    pair.primary.sigkill();
    let detected = support::wait_until(Duration::from_secs(10), || {
        pair.lb.status("primary").starts_with("DOWN")
    })
    .then(|| killed.elapsed());
    std::thread::sleep(Duration::from_secs(6));
    let r = fleet.report(killed);
    let target = detection() + RENEW_EVERY;
    r.print(&format!(
        "{case} failover ({}, HAProxy inter={}ms fall={} so detection={}, target={}; HAProxy marked primary DOWN after {})",
        db.label(),
        haproxy::CHECK_INTER_MS,
        haproxy::CHECK_FALL,
        secs(detection()),
        secs(target),
        detected.map_or("never".into(), secs)
    ));
    note(&format!(
        "FIGURES {case} failover: first renewal through the secondary within target {}: {}; renewal gap within (renew_every x 1.1 + target) {}: {}",
        secs(target),
        r.worst_first_success <= target,
        secs(RENEW_EVERY.mul_f64(1.1) + target),
        r.worst_gap <= RENEW_EVERY.mul_f64(1.1) + target
    ));
    let dead = fleet.dead();
    assert!(dead.is_empty(), "agents stopped: {dead:?}");
    assert!(
        r.silent.is_empty(),
        "agents never renewed after the kill: {:?}\n{}",
        r.silent,
        fleet.logs(&r.silent, 3)
    );
    assert!(
        r.worst_first_success <= target + TOLERANCE,
        "an agent renewed through the secondary only after {} (target {})",
        secs(r.worst_first_success),
        secs(target)
    );
    assert!(
        r.worst_gap <= RENEW_EVERY.mul_f64(1.1) + target + TOLERANCE,
        "worst renewal gap {} ({})",
        secs(r.worst_gap),
        r.worst_gap_agent
    );
    assert!(
        r.longest_grace <= target,
        "an agent stayed in grace {} (more than {})",
        secs(r.longest_grace),
        secs(target)
    );
    assert_eq!(r.must_stop, 0);
    let held = pair.secondary.grants();
    assert_eq!(held.len(), n, "every agent keeps its grant");
    assert!(
        pair.lb.sessions("secondary") > before,
        "the secondary took no traffic"
    );

    if failback {
        let launch = pair.primary.launch.clone();
        let back = Instant::now();
        pair.primary = Manager::start(&pair.setup, &launch);
        assert!(
            pair.primary.wait_ping(200, Duration::from_secs(15)),
            "the restarted primary does not serve (same node id, old registration not yet expired?): {}",
            pair.primary.log()
        );
        assert!(
            pair.lb
                .wait_status("primary", "UP", Duration::from_secs(15)),
            "HAProxy never saw the primary UP again: {}",
            pair.lb.status("primary")
        );
        let up_after = back.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        let (p0, s0) = (pair.lb.sessions("primary"), pair.lb.sessions("secondary"));
        std::thread::sleep(Duration::from_secs(3));
        let (p1, s1) = (pair.lb.sessions("primary"), pair.lb.sessions("secondary"));
        let r = fleet.report(back);
        r.print(&format!(
            "{case} failback (primary restarted, HAProxy UP after {}; requests in 3 s: primary {} secondary {})",
            secs(up_after),
            p1 - p0,
            s1 - s0
        ));
        assert!(p1 > p0, "no traffic back on the primary");
        assert_eq!(s1, s0, "the backup still takes traffic after failback");
        assert_eq!(r.entered_grace, 0, "an agent entered grace during failback");
        assert!(r.silent.is_empty(), "silent agents: {:?}", r.silent);
        assert!(
            r.worst_gap <= RENEW_EVERY.mul_f64(1.1) + target + TOLERANCE,
            "renewal gap {} during failback",
            secs(r.worst_gap)
        );
        assert!(
            fleet.dead().is_empty(),
            "agents stopped: {:?}",
            fleet.dead()
        );
    }

    // A clean stop of the fleet releases every grant (A5) through whichever serves.
    let codes = fleet.stop(Duration::from_secs(15));
    assert!(
        codes.iter().all(|c| *c == Some(143)),
        "exit codes after SIGTERM: {codes:?}"
    );
    let serving = if failback {
        &pair.primary
    } else {
        &pair.secondary
    };
    assert!(
        support::wait_until(Duration::from_secs(5), || serving.grants().is_empty()),
        "grants left after the fleet stopped: {}",
        serving.grants().len()
    );
}

fn failover_then_failback_tenured_postgres() {
    failover(
        "tenured-pg",
        Kind::Postgres,
        (Flavor::Tokio, Flavor::Tokio),
        50,
        true,
    );
}

fn failover_tenured_mariadb() {
    failover(
        "tenured-maria",
        Kind::MariaDb,
        (Flavor::Tokio, Flavor::Tokio),
        50,
        false,
    );
}

fn failover_tenured_smol_postgres() {
    failover(
        "smol-pg",
        Kind::Postgres,
        (Flavor::Smol, Flavor::Smol),
        50,
        true,
    );
}

fn failover_mixed_pair_postgres() {
    failover(
        "mixed-pg",
        Kind::Postgres,
        (Flavor::Tokio, Flavor::Smol),
        50,
        true,
    );
}

// ---------------------------------------------------------------- plain httpchk

/// Operators write `option httpchk GET /pingLicenseManager`; HAProxy then
/// checks in HTTP/1.0 without a Host header. `haproxy.cfg` says just that,
/// and both servers pass it (protocol section 6.1): two managers on one
/// PostgreSQL database are seen UP by their checks, agents renew through
/// HAProxy, and the failover to the backup completes (I5).
fn plain_httpchk(case: &str, flavor: Flavor) {
    let bin = needed(case, haproxy::binary());
    let cfg = std::fs::read_to_string(haproxy::config_path()).expect("docs/ha/haproxy.cfg");
    let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"option httpchk GET /pingLicenseManager"),
        "haproxy.cfg should use the plain check line"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("http-check send")),
        "haproxy.cfg should not override the check's version or headers"
    );
    let sent = {
        let _serial = serial();
        haproxy::check_request(&bin)
    };
    let sent = String::from_utf8_lossy(&sent).into_owned();
    note(&format!(
        "FIGURES {case}: HAProxy's check request: {sent:?}"
    ));
    assert!(
        sent.starts_with("GET /pingLicenseManager HTTP/1.0\r\n"),
        "HAProxy's plain check is HTTP/1.0: {sent:?}"
    );
    assert!(
        !sent.to_ascii_lowercase().contains("\r\nhost:"),
        "HAProxy's plain check carries no Host: {sent:?}"
    );
    failover(case, Kind::Postgres, (flavor, flavor), 10, false);
}

fn plain_httpchk_two_tenured_smol_postgres() {
    plain_httpchk("plain-check-smol", Flavor::Smol);
}

fn plain_httpchk_two_tenured_postgres() {
    plain_httpchk("plain-check-tenured", Flavor::Tokio);
}

// ---------------------------------------------------------------- split brain

/// Both managers take grant requests directly (no load balancer) at once:
/// together they never exceed `max_servers` (M5).
fn split_brain(case: &str, kind: Kind) {
    let bin = needed(case, Flavor::Tokio.binary());
    let _serial = serial();
    let db = database(kind);
    let setup = Setup::new(case, 2, GRACE_S, &[("race", 5)]);
    let a = Manager::start(&setup, &Launch::new(&bin, &db.url(), "a", free_port()));
    let b = Manager::start(&setup, &Launch::new(&bin, &db.url(), "b", free_port()));
    assert!(a.wait_ping(200, Duration::from_secs(15)), "{}", a.log());
    assert!(b.wait_ping(200, Duration::from_secs(15)), "{}", b.log());
    const RACERS: usize = 40;
    let barrier = std::sync::Barrier::new(RACERS);
    let started = Instant::now();
    let results: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let target = if i % 2 == 0 { a.addr } else { b.addr };
                let barrier = &barrier;
                s.spawn(move || {
                    let body = grant_body("race", &format!("racer-{i}"));
                    barrier.wait();
                    match support::http::request(target, "POST", "/v1/grants", None, Some(&body)) {
                        Ok(r) => (r.status, r.error_code()),
                        Err(e) => (0, Some(e)),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racer thread"))
            .collect()
    });
    let took = started.elapsed();
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let exceeded = results
        .iter()
        .filter(|(s, c)| *s == 403 && c.as_deref() == Some("servers_exceeded"))
        .count();
    let other: Vec<_> = results
        .iter()
        .filter(|(s, c)| *s != 201 && !(*s == 403 && c.as_deref() == Some("servers_exceeded")))
        .collect();
    let held_a = a.grants().len();
    let held_b = b.grants().len();
    note(&format!(
        "FIGURES {case} split brain ({}): {RACERS} racing grants on two managers for max_servers=5 in {}: 201={created} 403 servers_exceeded={exceeded} other={other:?}; held seen by a={held_a} b={held_b}",
        db.label(),
        secs(took)
    ));
    assert!(
        created <= 5,
        "M5 broken: {created} grants for max_servers=5"
    );
    assert_eq!(held_a, 5, "exactly the limit is held");
    assert_eq!(held_b, 5);
    assert_eq!(created, 5);
}

fn split_brain_postgres() {
    split_brain("split-pg", Kind::Postgres);
}

fn split_brain_mariadb() {
    split_brain("split-maria", Kind::MariaDb);
}

// ---------------------------------------------------------------- M6

fn third_manager_is_refused() {
    let case = "third-manager";
    let bin = needed(case, Flavor::Tokio.binary());
    let _serial = serial();
    let db = database(Kind::Postgres);
    let setup = Setup::new(case, 2, GRACE_S, &[("vdp", 10)]);
    let a = Manager::start(&setup, &Launch::new(&bin, &db.url(), "m1", free_port()));
    let mut b = Manager::start(&setup, &Launch::new(&bin, &db.url(), "m2", free_port()));
    assert!(a.wait_ping(200, Duration::from_secs(15)), "{}", a.log());
    assert!(b.wait_ping(200, Duration::from_secs(15)), "{}", b.log());
    let c = Manager::start(&setup, &Launch::new(&bin, &db.url(), "m3", free_port()));
    // Give the third a few heartbeats; it must never serve meanwhile.
    let t = Instant::now();
    let mut c_pings = Vec::new();
    while t.elapsed() < Duration::from_secs(5) {
        c_pings.push(c.ping());
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        c_pings.iter().all(|p| *p == Some(503)),
        "third manager pings: {c_pings:?}"
    );
    let g = c
        .call("POST", "/v1/grants", Some(&grant_body("vdp", "h3")))
        .expect("grant on the third");
    assert_eq!(g.status, 503, "{}", g.body);
    assert_eq!(
        g.error_code().as_deref(),
        Some("too_many_managers"),
        "{}",
        g.body
    );
    let st = c.admin("GET", "/v1/status", None);
    assert_eq!(
        st.status, 503,
        "an admin-path call on the third: {}",
        st.body
    );
    let h = c.health();
    assert_eq!(h["serving"], json!(false), "{h}");
    assert_eq!(a.ping(), Some(200));
    assert_eq!(b.ping(), Some(200));
    let ok = a
        .call("POST", "/v1/grants", Some(&grant_body("vdp", "h1")))
        .expect("grant");
    assert_eq!(ok.status, 201, "{}", ok.body);

    // m2 stops cleanly (deregisters): m3 may now serve, and at no sampled
    // instant do more than two managers serve (I7).
    let stopped = Instant::now();
    let status = b.sigterm(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "m2 exit: {status:?}");
    let mut max_serving = 0;
    let mut c_serves = None;
    while stopped.elapsed() < Duration::from_secs(15) {
        let serving = [&a, &c].iter().filter(|m| m.ping() == Some(200)).count();
        max_serving = max_serving.max(serving);
        if c.ping() == Some(200) {
            c_serves = Some(stopped.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    note(&format!(
        "FIGURES {case}: third manager answered 503 too_many_managers for 5 s of pings ({} samples); after m2's SIGTERM m3 served after {}; most serving at once (m2 gone) {max_serving}",
        c_pings.len(),
        c_serves.map_or("never".into(), secs)
    ));
    assert!(
        c_serves.is_some(),
        "m3 never served after m2 deregistered: {}",
        c.health()
    );
    assert!(max_serving <= 2);
}

// ---------------------------------------------------------------- database restart

fn database_restart_rides_out_in_grace() {
    let case = "db-restart";
    let bins = needed(case, bins(Flavor::Tokio, Flavor::Tokio));
    let _serial = serial();
    // Its server binaries are a declared need: a cluster that still will
    // not start is unavailable only once the case runs, which fails it.
    let pg = PrivatePg::create()
        .unwrap_or_else(|e| panic!("{case}: a private PostgreSQL cluster is unavailable: {e}"));
    let db = Database::create_on(&pg).expect("database on the private cluster");
    let setup = Setup::new(case, 2, GRACE_S, &[("vdp", 10)]);
    let pair = Pair::start(&bins, setup, &db.url());
    const N: usize = 5;
    let mut fleet = Fleet::start(&bins.agent, &pair.lb.url, "vdp", case, N);
    assert!(
        fleet.wait_started(Duration::from_secs(30)),
        "{}",
        fleet.logs(&[], 3)
    );
    std::thread::sleep(Duration::from_secs(2));

    let down = Instant::now();
    pg.stop_immediate().expect("stop the private PostgreSQL");
    let grant = pair
        .primary
        .call(
            "POST",
            "/v1/grants",
            Some(&grant_body("vdp", "during-outage")),
        )
        .expect("the primary answers during the outage");
    assert_eq!(grant.status, 503, "grant during the outage: {}", grant.body);
    let refused = support::wait_until(Duration::from_secs(25), || {
        pair.primary.ping() == Some(503) && pair.secondary.ping() == Some(503)
    });
    let ping_503_after = down.elapsed();
    assert!(
        refused,
        "managers still answer 200 on /pingLicenseManager without their database"
    );
    let h = pair.primary.health();
    assert_eq!(h["storage_ok"], json!(false), "{h}");
    assert!(
        support::wait_until(Duration::from_secs(10), || fleet.report(down).entered_grace
            == N),
        "not every agent entered grace: {:?}",
        fleet.report(down)
    );
    let dead = fleet.dead();
    assert!(
        dead.is_empty(),
        "agents stopped during the outage: {dead:?}"
    );

    let up = Instant::now();
    pg.start().expect("restart the private PostgreSQL");
    let serving = support::wait_until(Duration::from_secs(30), || {
        pair.primary.ping() == Some(200) && pair.secondary.ping() == Some(200)
    });
    let ping_200_after = up.elapsed();
    assert!(
        serving,
        "managers do not serve again after the database restart: {} / {}",
        pair.primary.health(),
        pair.secondary.health()
    );
    assert!(
        support::wait_until(Duration::from_secs(20), || fleet
            .report(up)
            .silent
            .is_empty()),
        "agents did not recover: {:?}",
        fleet.report(up).silent
    );
    let r = fleet.report(up);
    let outage = fleet.report(down);
    note(&format!(
        "FIGURES {case}: database down {}; a grant during it got 503 at once; both /pingLicenseManager 503 after {}; all {N} agents in grace; database back, both managers 200 after {}; every agent renewed again within {} of the restart (median {}); longest grace {}",
        secs(up - down),
        secs(ping_503_after),
        secs(ping_200_after),
        secs(r.worst_first_success),
        secs(r.median_first_success),
        secs(outage.longest_grace)
    ));
    let dead = fleet.dead();
    assert!(dead.is_empty(), "agents stopped: {dead:?}");
    assert_eq!(outage.must_stop, 0);
    assert_eq!(pair.primary.grants().len(), N, "grants survive the restart");
}

// ---------------------------------------------------------------- clocks

fn manager_with_clock_hours_off_agrees_and_reports_skew() {
    let case = "faketime";
    let bins = needed(case, bins(Flavor::Tokio, Flavor::Tokio));
    let lib = needed(case, support::faketime::library());
    let _serial = serial();
    const SKEW_MS: i64 = 3 * 3_600_000;
    let db = database(Kind::Postgres);
    let setup = Setup::new(case, 2, GRACE_S, &[("vdp", 10)]);
    let a = Manager::start(
        &setup,
        &Launch::new(&bins.primary, &db.url(), "clock-ok", free_port()),
    );
    let mut launch = Launch::new(&bins.secondary, &db.url(), "clock-3h-ahead", free_port());
    launch.env = vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("FAKETIME".into(), "+3h".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ];
    let b = Manager::start(&setup, &launch);
    assert!(a.wait_ping(200, Duration::from_secs(15)), "{}", a.log());
    assert!(b.wait_ping(200, Duration::from_secs(15)), "{}", b.log());
    // Two heartbeats, so that each has measured its offset and seen the other's.
    std::thread::sleep(Duration::from_secs(5));
    let hb = b.health();
    let offset = hb["clock_offsets"]["storage_ms"].as_i64().unwrap_or(0);
    assert!(
        (offset + SKEW_MS).abs() < 60_000,
        "libfaketime did not put the manager 3 h ahead, or /v1/health does not say so: {hb}"
    );

    let t_a = license::now_ms();
    let ga = a
        .call("POST", "/v1/grants", Some(&grant_body("vdp", "via-ok")))
        .expect("grant via a");
    let t_b = license::now_ms();
    let gb = b
        .call("POST", "/v1/grants", Some(&grant_body("vdp", "via-skewed")))
        .expect("grant via b");
    assert_eq!(ga.status, 201, "{}", ga.body);
    assert_eq!(gb.status, 201, "{}", gb.body);
    let held_until = |m: &Manager, host: &str| -> i64 {
        m.grants()
            .iter()
            .find(|g| g.to_string().contains(host))
            .and_then(|g| g["held_until_ms"].as_i64())
            .unwrap_or_else(|| panic!("no held_until_ms for {host}: {:?}", m.grants()))
    };
    let expect = |t: i64| t + i64::try_from(GRACE_S).unwrap_or(0) * 1000 + RECLAIM_MARGIN_MS;
    let (ua, ub) = (held_until(&a, "via-ok"), held_until(&a, "via-skewed"));
    assert_eq!(
        ub,
        held_until(&b, "via-skewed"),
        "both managers read the same deadline"
    );
    let (da, db_) = (ua - expect(t_a), ub - expect(t_b));
    // Renew the grant made through a, through b: the deadline moves by
    // real time only.
    let gid = ga.json()["grant_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let t_r = license::now_ms();
    let rn = b
        .call("POST", &format!("/v1/grants/{gid}/renew"), Some("{}"))
        .expect("renew via b");
    assert_eq!(rn.status, 200, "{}", rn.body);
    let dr = held_until(&a, "via-ok") - expect(t_r);

    // Agents renewing through the skewed manager never see a lapse (T1).
    let fleet = Fleet::start(&bins.agent, &b.url, "vdp", case, 3);
    assert!(
        fleet.wait_started(Duration::from_secs(20)),
        "{}",
        fleet.logs(&[], 3)
    );
    let since = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let fr = fleet.report(since);

    let ha = a.health();
    let hb = b.health();
    let warnings = format!("{} {}", ha["warnings"], hb["warnings"]);
    note(&format!(
        "FIGURES {case}: manager 3 h ahead (libfaketime): its storage offset {} ms; held_until minus (real send time + grace + reclaim margin): via normal {da} ms, via skewed {db_} ms, renewal via skewed {dr} ms; agents on the skewed manager: grace={} worst gap {}; health warnings: normal={} skewed={}",
        offset,
        fr.entered_grace,
        secs(fr.worst_gap),
        ha["warnings"],
        hb["warnings"]
    ));
    for (what, d) in [
        ("normal grant", da),
        ("skewed grant", db_),
        ("skewed renewal", dr),
    ] {
        assert!(
            d.abs() < 2_000,
            "T3: the {what}'s deadline is {d} ms off the storage clock's"
        );
    }
    assert_eq!(
        fr.entered_grace, 0,
        "agents on the skewed manager entered grace"
    );
    assert!(fr.silent.is_empty(), "{:?}", fr.silent);
    assert!(
        warnings.contains("clock-3h-ahead"),
        "T4: no skew warning names the skewed manager: {ha} / {hb}"
    );
    let peer = ha["clock_offsets"]["peers_ms"]["clock-3h-ahead"].as_i64();
    assert!(
        peer.is_some_and(|o| (o + SKEW_MS).abs() < 60_000),
        "the normal manager does not see its peer's offset: {ha}"
    );
}

// ---------------------------------------------------------------- rolling update

fn rolling_update_without_grace() {
    let case = "rolling-update";
    let bins = needed(case, bins(Flavor::Tokio, Flavor::Tokio));
    let _serial = serial();
    let db = database(Kind::Postgres);
    let setup = Setup::new(case, 2, GRACE_S, &[("vdp", 20)]);
    let mut pair = Pair::start(&bins, setup, &db.url());
    const N: usize = 10;
    let mut fleet = Fleet::start(&bins.agent, &pair.lb.url, "vdp", case, N);
    assert!(
        fleet.wait_started(Duration::from_secs(30)),
        "{}",
        fleet.logs(&[], 3)
    );
    std::thread::sleep(Duration::from_secs(2));
    let since = Instant::now();
    // The "new binary": the same tenured here (tenured-smol once it lands
    // could be the upgrade target).
    let new_bin = bins.secondary.clone();
    let mut steps = Vec::new();
    for name in ["secondary", "primary"] {
        let t = Instant::now();
        let backup_before = pair.lb.sessions("secondary");
        pair.lb.set_state(name, "maint");
        assert!(pair.lb.wait_status(name, "MAINT", Duration::from_secs(5)));
        let m = if name == "primary" {
            &mut pair.primary
        } else {
            &mut pair.secondary
        };
        let status = m.sigterm(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "{name} exit: {status:?}"
        );
        let mut launch = m.launch.clone();
        launch.bin.clone_from(&new_bin);
        *m = Manager::start(&pair.setup, &launch);
        assert!(
            m.wait_ping(200, Duration::from_secs(15)),
            "the new {name} does not answer 200 on /pingLicenseManager: {}",
            m.log()
        );
        // Let the fleet renew a little while the server is out (an operator
        // takes longer than this test anyway).
        std::thread::sleep(Duration::from_millis(1500));
        pair.lb.set_state(name, "ready");
        assert!(
            pair.lb.wait_status(name, "UP", Duration::from_secs(15)),
            "HAProxy never saw the new {name} UP: {}",
            pair.lb.status(name)
        );
        if name == "primary" {
            assert!(
                pair.lb.sessions("secondary") > backup_before,
                "the backup took no traffic while the primary was updated"
            );
        }
        steps.push(format!("{name} {}", secs(t.elapsed())));
        std::thread::sleep(Duration::from_secs(2));
    }
    let r = fleet.report(since);
    r.print(&format!("{case} ({})", steps.join(", ")));
    let dead = fleet.dead();
    assert!(dead.is_empty(), "agents stopped: {dead:?}");
    assert_eq!(
        r.entered_grace, 0,
        "an agent entered grace during the update"
    );
    assert!(
        r.worst_gap < manager::LEASE_TTL,
        "worst renewal gap {} reached the lease",
        secs(r.worst_gap)
    );
    // Traffic is back on the primary.
    let p0 = pair.lb.sessions("primary");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        pair.lb.sessions("primary") > p0,
        "no traffic on the updated primary"
    );
    assert_eq!(pair.primary.grants().len(), N);
    let _ = &pair.db_url;
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "failover_then_failback_tenured_postgres",
            &[TENURED, AGENT, HAPROXY, Need::Postgres],
            failover_then_failback_tenured_postgres,
        ),
        trial(
            "failover_tenured_mariadb",
            &[TENURED, AGENT, HAPROXY, Need::MariaDb],
            failover_tenured_mariadb,
        ),
        trial(
            "failover_tenured_smol_postgres",
            &[TENURED_SMOL, AGENT, HAPROXY, Need::Postgres],
            failover_tenured_smol_postgres,
        ),
        trial(
            "failover_mixed_pair_postgres",
            &[TENURED, TENURED_SMOL, AGENT, HAPROXY, Need::Postgres],
            failover_mixed_pair_postgres,
        ),
        trial(
            "plain_httpchk_two_tenured_smol_postgres",
            &[HAPROXY],
            plain_httpchk_two_tenured_smol_postgres,
        ),
        trial(
            "plain_httpchk_two_tenured_postgres",
            &[HAPROXY],
            plain_httpchk_two_tenured_postgres,
        ),
        trial(
            "split_brain_postgres",
            &[TENURED, Need::Postgres],
            split_brain_postgres,
        ),
        trial(
            "split_brain_mariadb",
            &[TENURED, Need::MariaDb],
            split_brain_mariadb,
        ),
        trial(
            "third_manager_is_refused",
            &[TENURED, Need::Postgres],
            third_manager_is_refused,
        ),
        trial(
            "database_restart_rides_out_in_grace",
            &[TENURED, AGENT, HAPROXY, Need::PgServerBinaries],
            database_restart_rides_out_in_grace,
        ),
        trial(
            "manager_with_clock_hours_off_agrees_and_reports_skew",
            &[TENURED, AGENT, HAPROXY, FAKETIME, Need::Postgres],
            manager_with_clock_hours_off_agrees_and_reports_skew,
        ),
        trial(
            "rolling_update_without_grace",
            &[TENURED, AGENT, HAPROXY, Need::Postgres],
            rolling_update_without_grace,
        ),
    ])
}
