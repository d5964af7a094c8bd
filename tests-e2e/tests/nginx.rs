//! Active-passive failover through open-source nginx running
//! `docs/ha/nginx.conf` itself (rendered: nginx does not expand environment
//! variables, see support/nginx.rs): two real managers on a fresh PostgreSQL
//! database, 20 `tenure-agent` processes renewing through nginx, the primary
//! SIGKILLed; then the old primary restarted while it must not serve (503
//! too_many_managers), which nginx must pass on to the backup; then failback.
//! Figures are printed on lines starting with `FIGURES`.
//!
//! Needs `cargo build --workspace --bins` first, PostgreSQL
//! (.ci/setup-services.sh) and nginx. A missing nginx (or binary) fails the
//! case under CI=true and is reported as ignored otherwise.

mod support;

use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::db::Kind;
use support::manager::{Launch, RENEW_EVERY};
use support::nginx::{self, Access, FAIL_TIMEOUT, Nginx, SKIPPED_AT_MOST};
use support::*;
use tenure_testkit::{Need, trial};

/// Grace period of the license: long enough to ride out every outage here.
const GRACE_S: u64 = 60;
/// Agents renewing through nginx.
const N: usize = 20;
/// Longest an agent may stay in grace ("a couple of seconds").
const MAX_GRACE: Duration = Duration::from_secs(2);
/// Scheduling noise allowed on a loaded 2-core machine above each target.
const TOLERANCE: Duration = Duration::from_millis(500);

struct Bins {
    tenured: PathBuf,
    agent: PathBuf,
    nginx: PathBuf,
}

fn bins() -> Result<Bins, String> {
    Ok(Bins {
        tenured: Flavor::Tokio.binary()?,
        agent: agent_binary()?,
        nginx: nginx::binary()?,
    })
}

fn grant_body(host: &str) -> String {
    json!({"product": "vdp", "hostname": host, "port": 9999, "cores": 2}).to_string()
}

/// Access-log lines written since `from` lines.
fn since(lb: &Nginx, from: usize) -> Vec<Access> {
    lb.access().into_iter().skip(from).collect()
}

fn only_via(lines: &[Access], addr: &str) -> bool {
    lines.iter().all(|a| a.upstreams == [addr])
}

fn client_errors(lines: &[Access]) -> Vec<String> {
    lines
        .iter()
        .filter(|a| a.status >= 500)
        .map(|a| a.line.clone())
        .collect()
}

fn nginx_failover_tenured_postgres() {
    let case = "nginx-pg";
    let bins = needed(case, bins());
    let _serial = serial();
    let started = Instant::now();
    let db = Database::create(Kind::Postgres).unwrap_or_else(|e| {
        panic!("cannot create a database (run .ci/setup-services.sh first): {e}")
    });
    let setup = Setup::new(case, 2, GRACE_S, &[("vdp", 100)]);
    let url = db.url();
    let mut primary = Manager::start(
        &setup,
        &Launch::new(&bins.tenured, &url, "primary", free_port()),
    );
    let secondary = Manager::start(
        &setup,
        &Launch::new(&bins.tenured, &url, "secondary", free_port()),
    );
    for m in [&primary, &secondary] {
        assert!(
            m.wait_ping(200, Duration::from_secs(15)),
            "{} never served: {}",
            m.node_id(),
            m.log()
        );
    }
    let (p_addr, s_addr) = (primary.addr.to_string(), secondary.addr.to_string());
    let lb = Nginx::start(&bins.nginx, primary.addr, secondary.addr);
    let mut fleet = Fleet::start(&bins.agent, &lb.url, "vdp", case, N);
    assert!(
        fleet.wait_started(Duration::from_secs(30)),
        "not every agent started: {}\n{}",
        fleet.logs(&[], 3),
        lb.log()
    );
    // A third manager, not behind nginx: refused while both others live; it
    // takes the primary's slot once the killed primary's registration
    // expires (M6), so that the restarted primary is refused later.
    let mut bystander = Manager::start(
        &setup,
        &Launch::new(&bins.tenured, &url, "bystander", free_port()),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(bystander.ping(), Some(503), "a third manager serves");
    assert_eq!(primary.grants().len(), N, "grants held before the kill");
    let before = lb.access();
    assert!(
        !before.is_empty() && only_via(&before, &p_addr) && client_errors(&before).is_empty(),
        "before the kill every request goes to the primary and succeeds:\n{}",
        lb.log()
    );

    // ------------------------------------------------ failover: SIGKILL the primary
    let mark = before.len();
    let killed = Instant::now();
    primary.sigkill();
    std::thread::sleep(Duration::from_secs(6));
    let r = fleet.report(killed);
    let after = since(&lb, mark);
    let retried = after
        .iter()
        .filter(|a| a.upstreams == [p_addr.as_str(), s_addr.as_str()])
        .count();
    let via_secondary = after
        .iter()
        .filter(|a| a.upstreams.last() == Some(&s_addr) && a.status < 300)
        .count();
    let errors = client_errors(&after);
    r.print(&format!(
        "{case} failover (nginx, PostgreSQL, fail_timeout={}; {} requests after the kill: {retried} tried the primary then the backup, {via_secondary} answered by the secondary, {} 5xx to agents)",
        secs(FAIL_TIMEOUT),
        after.len(),
        errors.len()
    ));
    note(&format!(
        "FIGURES {case} failover: worst renewal gap {} ({}), time to first renewal through the secondary: worst {} median {}, agents in grace {} (longest {})",
        secs(r.worst_gap),
        r.worst_gap_agent,
        secs(r.worst_first_success),
        secs(r.median_first_success),
        r.entered_grace,
        secs(r.longest_grace)
    ));
    let dead = fleet.dead();
    assert!(dead.is_empty(), "agents stopped: {dead:?}");
    assert!(
        r.silent.is_empty(),
        "agents never renewed after the kill: {:?}\n{}",
        r.silent,
        fleet.logs(&r.silent, 3)
    );
    assert_eq!(r.must_stop, 0);
    assert!(
        r.longest_grace <= MAX_GRACE,
        "an agent stayed in grace {}",
        secs(r.longest_grace)
    );
    // nginx retries the failed request on the backup at once: an agent
    // needs at most one retry of its own (backoff capped at renew_every).
    let target = RENEW_EVERY.mul_f64(1.1) + RENEW_EVERY;
    assert!(
        r.worst_gap <= target + TOLERANCE,
        "worst renewal gap {} ({}), target {}",
        secs(r.worst_gap),
        r.worst_gap_agent,
        secs(target)
    );
    assert!(errors.is_empty(), "nginx answered 5xx: {errors:#?}");
    assert!(via_secondary > 0, "the secondary took no traffic");
    assert_eq!(secondary.grants().len(), N, "every agent keeps its grant");

    // ------------------------------------------------ a primary that must not serve
    // The killed primary's registration expires (10 s) and the bystander
    // takes its slot; then the primary comes back with its node id and
    // port: a third live manager, so it answers 503 too_many_managers.
    let expired = support::wait_until(Duration::from_secs(20), || bystander.ping() == Some(200));
    assert!(
        expired,
        "the bystander never took the killed primary's slot: {}",
        bystander.health()
    );
    let launch = primary.launch.clone();
    primary = Manager::start(&setup, &launch);
    let g = primary
        .call("POST", "/v1/grants", Some(&grant_body("direct")))
        .expect("the restarted primary answers");
    assert_eq!(g.status, 503, "{}", g.body);
    assert_eq!(
        g.error_code().as_deref(),
        Some("too_many_managers"),
        "{}",
        g.body
    );
    let mark = lb.access().len();
    let refusing = Instant::now();
    let mut pings = Vec::new();
    while refusing.elapsed() < FAIL_TIMEOUT * 3 {
        pings.push(primary.ping());
        std::thread::sleep(Duration::from_millis(250));
    }
    let r = fleet.report(refusing);
    let lines = since(&lb, mark);
    let passed_on = lines
        .iter()
        .filter(|a| {
            a.upstreams == [p_addr.as_str(), s_addr.as_str()]
                && a.upstream_statuses == ["503", "200"]
                && a.status == 200
        })
        .count();
    let errors = client_errors(&lines);
    r.print(&format!(
        "{case} refusing primary ({} requests in {}: {passed_on} answered 503 by the restarted primary and passed on to the backup, {} 5xx to agents)",
        lines.len(),
        secs(refusing.elapsed()),
        errors.len()
    ));
    assert!(
        pings.iter().all(|p| *p == Some(503)),
        "the restarted primary served meanwhile: {pings:?}"
    );
    assert!(
        passed_on >= 1,
        "no 503 of the restarted primary was passed on to the backup:\n{}",
        lb.log()
    );
    assert!(errors.is_empty(), "nginx passed errors on: {errors:#?}");
    assert_eq!(r.entered_grace, 0, "an agent entered grace");
    assert!(r.silent.is_empty(), "silent agents: {:?}", r.silent);
    assert!(
        fleet.dead().is_empty(),
        "agents stopped: {:?}",
        fleet.dead()
    );

    // ------------------------------------------------ failback
    // The bystander stops cleanly (deregisters): the primary may serve, and
    // once its fail_timeout has run out nginx sends everything to it again.
    // The last 503 it passed on can come just before the primary serves, and
    // nginx rounds to whole seconds: hence SKIPPED_AT_MOST, not FAIL_TIMEOUT.
    let status = bystander.sigterm(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "bystander exit: {status:?}"
    );
    let back = Instant::now();
    assert!(
        primary.wait_ping(200, Duration::from_secs(10)),
        "the primary does not serve after the bystander left: {}",
        primary.health()
    );
    let serving_after = back.elapsed();
    std::thread::sleep(SKIPPED_AT_MOST + TOLERANCE);
    let mark = lb.access().len();
    std::thread::sleep(Duration::from_secs(2));
    let lines = since(&lb, mark);
    let r = fleet.report(back);
    r.print(&format!(
        "{case} failback (primary served {} after the bystander's SIGTERM; {} requests in the 2 s after fail_timeout + 1 s, all via the primary: {})",
        secs(serving_after),
        lines.len(),
        only_via(&lines, &p_addr)
    ));
    assert!(
        !lines.is_empty() && only_via(&lines, &p_addr),
        "traffic did not return to the primary:\n{}",
        lb.log()
    );
    assert!(client_errors(&lines).is_empty());
    assert_eq!(r.entered_grace, 0, "an agent entered grace during failback");

    // A clean stop of the fleet releases every grant (A5) through nginx.
    let codes = fleet.stop(Duration::from_secs(15));
    assert!(
        codes.iter().all(|c| *c == Some(143)),
        "exit codes after SIGTERM: {codes:?}"
    );
    assert!(
        support::wait_until(Duration::from_secs(5), || primary.grants().is_empty()),
        "grants left after the fleet stopped: {}",
        primary.grants().len()
    );
    note(&format!(
        "FIGURES {case}: rendering of docs/ha/nginx.conf: {}; whole case {}",
        lb.envsubst,
        secs(started.elapsed())
    ));
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![trial(
        "nginx_failover_tenured_postgres",
        &[TENURED, AGENT, NGINX, Need::Postgres],
        nginx_failover_tenured_postgres,
    )])
}
