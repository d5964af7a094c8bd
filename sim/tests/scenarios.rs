//! Every named scenario passes at the protocol's real time settings (grace
//! 5 days, renew 300 s, lease 900 s) over 7 simulated days, with a fixed seed
//! and a modest number of components.

use tenure_sim::{NAMES, Scale, scenario};

fn run(name: &str) {
    let plan = scenario::named(name, 1, 6, 7, Scale::DEFAULT).expect("named scenario");
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{name}:\n{}", report.summary());
}

#[test]
fn grace_survives() {
    run("grace-survives");
}

#[test]
fn grace_expires() {
    run("grace-expires");
}

#[test]
fn failover() {
    let plan = scenario::named("failover", 1, 6, 7, Scale::DEFAULT).expect("named");
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{}", report.summary());
    let gap = report.failover_gap_ms.expect("a failover gap was measured");
    assert!(gap <= report.failover_bound_ms.expect("bound"));
    assert!(report.manager_successes[1] > 0, "the backup served");
}

#[test]
fn split_brain() {
    run("split-brain");
}

#[test]
fn clock_skew() {
    run("clock-skew");
}

#[test]
fn storage_outage() {
    run("storage-outage");
}

#[test]
fn restart_in_grace() {
    run("restart-in-grace");
}

#[test]
fn crash_reclaim() {
    run("crash-reclaim");
}

#[test]
fn license_expiry() {
    run("license-expiry");
}

#[test]
fn proxy_pages() {
    run("proxy-pages");
}

#[test]
fn wall_steps() {
    run("wall-steps");
}

#[test]
fn twins() {
    let plan = scenario::named("twins", 1, 6, 7, Scale::DEFAULT).expect("named");
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{}", report.summary());
    assert!(
        report.stops.get("replaced").is_some_and(|n| *n > 0),
        "the older twin stopped as replaced: {}",
        report.summary()
    );
}

#[test]
fn pause_in_flight() {
    run("pause-in-flight");
}

#[test]
fn pause_in_outage() {
    run("pause-in-outage");
}

/// Two holds and then some: longer than the seven days of the others.
#[test]
fn step_windows_close() {
    let plan = scenario::named("step-windows-close", 1, 6, 0, Scale::DEFAULT).expect("named");
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{}", report.summary());
}

#[test]
fn storage_clock_steps() {
    run("storage-clock-steps");
}

#[test]
fn db_failover_clock_ahead() {
    run("db-failover-clock-ahead");
}

#[test]
fn license_not_yet_valid() {
    run("license-not-yet-valid");
}

#[test]
fn slow_clock_reclaim() {
    run("slow-clock-reclaim");
}

#[test]
fn db_failover_clock_behind() {
    run("db-failover-clock-behind");
}

#[test]
fn vm_pause() {
    run("vm-pause");
}

#[test]
fn node_id_clash() {
    let plan = scenario::named("node-id-clash", 1, 6, 7, Scale::DEFAULT).expect("named");
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{}", report.summary());
    assert!(
        report.manager_successes[1] > 0,
        "the second process took over"
    );
}

#[test]
fn racing_managers() {
    run("racing-managers");
}

#[test]
fn direct_urls() {
    let plan = scenario::named("direct-urls", 1, 6, 7, Scale::DEFAULT).expect("named");
    let report = tenure_sim::run(plan, None);
    assert!(report.passed(), "{}", report.summary());
    assert!(
        report.manager_successes.iter().all(|n| *n > 0),
        "each manager served while the other was down: {:?}",
        report.manager_successes
    );
}

/// A grace of exactly one day or one hour: the warning for that much left
/// is not given (there never was more), and nothing waits for it.
#[test]
fn grace_of_exactly_a_warning_span() {
    for grace_s in [86_400, 3_600] {
        let scale = Scale {
            grace_s,
            renew_every_s: 30,
            lease_ttl_s: 90,
        };
        let plan = scenario::named("grace-expires", 1, 4, 0, scale).expect("named");
        let report = tenure_sim::run(plan, None);
        assert!(report.passed(), "grace {grace_s} s:\n{}", report.summary());
    }
}

#[test]
fn clean_stop() {
    run("clean-stop");
}

#[test]
fn every_name_is_known_and_unknown_names_are_not() {
    for n in NAMES {
        assert!(scenario::named(n, 1, 3, 7, Scale::DEFAULT).is_some());
    }
    assert!(scenario::named("nope", 1, 3, 7, Scale::DEFAULT).is_none());
}
