//! PostgreSQL failover the way operators run it (M4, M9, I1, I4, I6), on
//! real processes.
//!
//! A private primary and a streaming standby with synchronous replication
//! (support/replication.rs), and one manager given the multi-host URL
//! `postgres://postgres@127.0.0.1:P1,127.0.0.1:P2/tenure?target_session_attrs=read-write`.
//! The primary dies (SIGKILL of all its processes) while agents renew, and
//! the standby is promoted (`pg_ctl promote`) a second later, as a failover
//! tool would.
//!
//! - `synchronous_failover_*`: 20 agents renewing every 1 s, and a writer
//!   taking grants as fast as it gets answers across the kill. Nothing
//!   acknowledged may be lost (every grant id an agent or the writer was
//!   given is still held: grants lost = 0, M4/I6), no component may stop
//!   (I4). The renewal gap across the failover is measured and printed.
//! - `standby_clock_hour_ahead_*`: the standby runs under libfaketime one
//!   hour ahead, so the failover steps the storage clock +1 h. The license's
//!   grace is 1 h 5 s (the step is within it) and the reclaim margin 60 s.
//!   One component of a full pool is cut off (its agent SIGSTOPped; its
//!   command runs on) for 70 s, so that without M9 the step would put its
//!   slot past `last_renewed + grace + margin`. After the failover a new agent
//!   asks for the pool: it must be refused (`servers_exceeded`), no grant may
//!   end `grace_exceeded` (usage history), and the cut-off component must
//!   renew its own grant once it is continued (M9, I1).
//!
//! Each case runs against `tenured` and `tenured-smol` (`cargo build
//! --workspace --bins`). Needs the PostgreSQL server binaries (`initdb`,
//! `pg_basebackup`, `pg_ctl` under /usr/lib/postgresql), the `postgres` OS
//! user and libfaketime; a missing one fails the case under CI=true and is
//! reported as ignored otherwise. Figures on `FIGURES` lines.

mod support;

use nix::sys::signal::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::agents::Spec;
use support::faketime::{self, FakeClock};
use support::manager::Launch;
use support::replication::Replicated;
use support::wording::clock_step_lines;
use support::*;
use tenure_testkit::{Need, trial};

/// Agents renewing across the failover.
const N: usize = 20;
/// Grace of the first case: far longer than any failover here.
const GRACE_S: u64 = 60;
/// What a failover tool takes to decide the primary is gone.
const DECIDE: Duration = Duration::from_secs(1);
/// `tenure-agent` exit code when its first grant is refused (docs/agent.md).
const EXIT_NEVER_LICENSED: i32 = 69;

/// The standby's clock lead, the storage clock step at the failover.
const STEP_S: i64 = 3600;
/// The license's grace in the second case: the step is within it (M9's bound).
const STEP_GRACE_S: u64 = 3605;
/// The smallest reclaim margin a manager accepts (§7.1).
const RECLAIM_S: u64 = 60;
/// How long the cut-off component is silent before a new agent asks: more
/// than grace + margin - step (65 s), so that only M9 keeps its slot held.
const CUT_OFF: Duration = Duration::from_secs(70);

fn bins(flavor: Flavor) -> Result<(PathBuf, PathBuf), String> {
    Ok((flavor.binary()?, agent_binary()?))
}

/// The replicated pair. Its server binaries are a declared need: a pair that
/// still will not start is unavailable only once the case runs, which
/// fails it.
fn replicated(case: &str, standby_env: Vec<(String, String)>) -> Replicated {
    Replicated::start(standby_env).unwrap_or_else(|e| {
        panic!("{case}: a private PostgreSQL primary and standby are unavailable: {e}")
    })
}

fn started_manager(setup: &Setup, launch: &Launch) -> Manager {
    let m = Manager::start(setup, launch);
    assert!(
        m.wait_ping(200, Duration::from_secs(20)),
        "the manager never served on the multi-host URL {}: {}",
        launch.database,
        m.log()
    );
    m
}

/// Grant id by hostname, for the held grants of `product`.
fn held(manager: &Manager, product: &str) -> BTreeMap<String, String> {
    manager
        .grants()
        .iter()
        .filter(|g| g["product"].as_str() == Some(product))
        .filter_map(|g| {
            Some((
                g["hostname"].as_str()?.to_owned(),
                g["grant_id"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// One grant request of the writer: when it was sent and answered, the
/// status (0: no answer) and the grant id of a 201.
#[derive(Debug, Clone)]
struct Write {
    sent: Instant,
    answered: Instant,
    status: u16,
    grant_id: Option<String>,
}

/// A client taking grants one after the other, straight at a manager, and
/// recording the ones it was given (acknowledged: answered 201).
struct Writer {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Write>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(manager: SocketAddr, product: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop2.load(Ordering::SeqCst) {
                let body = serde_json::json!({
                    "product": product, "hostname": format!("writer-{i}"), "port": 9999, "cores": 1
                })
                .to_string();
                let sent = Instant::now();
                let (status, grant_id) = match support::http::request(
                    manager,
                    "POST",
                    "/v1/grants",
                    None,
                    Some(&body),
                ) {
                    Ok(r) if r.status == 201 => {
                        (201, r.json()["grant_id"].as_str().map(str::to_owned))
                    }
                    Ok(r) => (r.status, None),
                    Err(_) => (0, None),
                };
                if let Ok(mut l) = log2.lock() {
                    l.push(Write {
                        sent,
                        answered: Instant::now(),
                        status,
                        grant_id,
                    });
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            log,
            thread: Some(thread),
        }
    }

    fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        self.log
            .lock()
            .ok()?
            .iter()
            .find(|w| w.sent >= t && w.status == 201)
            .map(|w| w.answered)
    }

    fn stop(mut self) -> Vec<Write> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------- nothing lost

fn synchronous_failover(case: &str, flavor: Flavor) {
    let (manager_bin, agent_bin) = needed(case, bins(flavor));
    let started = Instant::now();
    let pg = replicated(case, Vec::new());
    pg.create_database("tenure")
        .unwrap_or_else(|e| panic!("CREATE DATABASE on the primary: {e}"));
    let url = pg.url("tenure");
    let setup = Setup::new(case, 1, GRACE_S, &[("vdp", 100), ("acked", 100_000)]);
    let manager = started_manager(&setup, &Launch::new(&manager_bin, &url, "m1", free_port()));
    let mut fleet = Fleet::start(&agent_bin, &manager.url, "vdp", case, N);
    assert!(
        fleet.wait_started(Duration::from_secs(40)),
        "not every agent started: {}",
        fleet.logs(&[], 3)
    );
    std::thread::sleep(Duration::from_secs(2));
    let before = held(&manager, "vdp");
    assert_eq!(before.len(), N, "grants held before the failover");
    let writer = Writer::start(manager.addr, "acked");
    std::thread::sleep(Duration::from_secs(1));

    let killed = Instant::now();
    pg.primary
        .kill()
        .unwrap_or_else(|e| panic!("SIGKILL the primary: {e}"));
    std::thread::sleep(DECIDE);
    let promoting = Instant::now();
    pg.promote()
        .unwrap_or_else(|e| panic!("promote the standby: {e}"));
    let promoted = Instant::now();
    let recovered = support::wait_until(Duration::from_secs(30), || {
        fleet.report(promoted).silent.is_empty()
    });
    let writes_back = writer.first_ack_after(killed);
    std::thread::sleep(Duration::from_secs(1));
    let writes = writer.stop();
    let after = held(&manager, "acked");
    let after_ids: BTreeSet<&String> = after.values().collect();
    let after_fleet = held(&manager, "vdp");
    let fleet_ids: BTreeSet<&String> = after_fleet.values().collect();

    let mut failures = Vec::new();
    let r = fleet.report(killed);
    let lost_fleet: Vec<String> = before
        .iter()
        .filter(|(_, id)| !fleet_ids.contains(id))
        .map(|(h, id)| format!("{h}:{id}"))
        .collect();
    let acked: Vec<&String> = writes.iter().filter_map(|w| w.grant_id.as_ref()).collect();
    let lost_writes: Vec<&&String> = acked
        .iter()
        .filter(|id| !after_ids.contains(**id))
        .collect();
    let in_flight = writes
        .iter()
        .filter(|w| w.sent < killed && w.answered >= killed)
        .count();
    let longest_wait = writes
        .iter()
        .map(|w| w.answered - w.sent)
        .max()
        .unwrap_or_default();
    let refused = writes.iter().filter(|w| w.status == 503).count();
    let errors = writes.iter().filter(|w| w.status == 0).count();
    let regranted: Vec<String> = fleet
        .agents
        .iter()
        .filter(|a| a.regranted_since(killed))
        .map(|a| a.name.clone())
        .collect();
    let grants_lost = lost_fleet.len() + lost_writes.len();
    r.print(&format!(
        "{case} ({} agents renewing every 1 s through one {} on {url}; primary SIGKILLed, standby promoted {} later, promotion took {})",
        N,
        flavor.file_name(),
        secs(promoting - killed),
        secs(promoted - promoting)
    ));
    note(&format!(
        "FIGURES {case}: grants lost = {grants_lost} (agents' {}, writer's {} of {} acknowledged); writer: {in_flight} in flight at the kill, {refused} answered 503, {errors} without an answer, longest wait for an answer {}, first grant sent after the kill acknowledged {} after it; agents re-granted after the kill: {}; wall time {}",
        lost_fleet.len(),
        lost_writes.len(),
        acked.len(),
        secs(longest_wait),
        writes_back.map_or("never".into(), |t| secs(t - killed)),
        regranted.len(),
        secs(started.elapsed())
    ));

    if grants_lost > 0 || !regranted.is_empty() {
        failures.push(format!(
            "M4/I6 broken: acknowledged grants lost across the database failover: agents' {lost_fleet:?}, writer's {lost_writes:?}; agents told their grant was unknown: {regranted:?}"
        ));
    }
    let dead = fleet.dead();
    if !dead.is_empty() || r.must_stop > 0 {
        failures.push(format!(
            "I4 broken: components stopped during a database failover far shorter than grace: {dead:?}\n{}",
            fleet.logs(&dead, 3)
        ));
    }
    if !recovered {
        failures.push(format!(
            "agents did not renew within 30 s of the promotion (the manager did not reconnect through the multi-host URL?): {:?}\n{}",
            fleet.report(promoted).silent,
            manager.log()
        ));
    }
    if writes_back.is_none() {
        failures.push(format!(
            "no grant was acknowledged after the kill: the manager never wrote to the promoted standby\n{}",
            manager.log()
        ));
    }
    assert!(failures.is_empty(), "{case}:\n{}", failures.join("\n"));
}

fn synchronous_failover_tenured() {
    synchronous_failover("pg-failover-tokio", Flavor::Tokio);
}

fn synchronous_failover_tenured_smol() {
    synchronous_failover("pg-failover-smol", Flavor::Smol);
}

// ---------------------------------------------------------------- clock step

/// Clock of a server in ms, read by SQL.
fn clock_ms(pg: &PrivatePg) -> Result<i64, String> {
    pg.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")?
        .parse()
        .map_err(|e| format!("{e}"))
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn standby_clock_hour_ahead(case: &str, flavor: Flavor) {
    let (manager_bin, agent_bin, lib) = needed(
        case,
        bins(flavor).and_then(|(m, a)| Ok((m, a, faketime::library()?))),
    );
    let started = Instant::now();
    let clock = FakeClock::new(&lib, STEP_S);
    clock.share();
    let pg = replicated(case, clock.env());
    let lead_ms = clock_ms(&pg.standby)
        .and_then(|s| Ok(s - clock_ms(&pg.primary)?))
        .unwrap_or_else(|e| panic!("reading the servers' clocks: {e}"));
    assert!(
        (lead_ms - STEP_S * 1000).abs() < 60_000,
        "test set-up: libfaketime did not put the standby {STEP_S} s ahead: it leads by {lead_ms} ms"
    );
    pg.create_database("tenure")
        .unwrap_or_else(|e| panic!("CREATE DATABASE on the primary: {e}"));
    let url = pg.url("tenure");
    let setup = Setup::new(case, 1, STEP_GRACE_S, &[("vdp", 4)]);
    let mut launch = Launch::new(&manager_bin, &url, "m1", free_port());
    launch.args = [
        "--reclaim-margin",
        &format!("{RECLAIM_S}s"),
        "--sweep-every",
        "1s",
    ]
    .map(str::to_owned)
    .to_vec();
    let manager = started_manager(&setup, &launch);
    let mut specs = vec![Spec::new("cut-off", &manager.url, "vdp")];
    specs.extend((0..3).map(|i| Spec::new(&format!("steady-{i}"), &manager.url, "vdp")));
    let mut fleet = Fleet::launch(&agent_bin, specs);
    assert!(
        fleet.wait_started(Duration::from_secs(30)),
        "not every agent started: {}",
        fleet.logs(&[], 4)
    );
    std::thread::sleep(Duration::from_secs(1));

    // Cut one component off: its agent stops, its command runs on.
    let cut = Instant::now();
    fleet.agent("cut-off").signal(Signal::SIGSTOP);
    let victim = manager
        .grant_of("cut-off")
        .and_then(|g| g["grant_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no grant for cut-off: {:?}", manager.grants()));
    assert!(
        support::wait_until(Duration::from_secs(10), || manager
            .grant_of("cut-off")
            .is_some_and(|g| g["state"] == "grace")),
        "test set-up: the manager never showed the cut-off component in grace: {:?}",
        manager.grant_of("cut-off")
    );

    // The failover, late enough that the cut-off grant's deadline is within
    // the step (CUT_OFF), early enough to leave the steady agents time to
    // renew before the new agent asks.
    sleep_until(cut + CUT_OFF - Duration::from_secs(12));
    let killed = Instant::now();
    pg.primary
        .kill()
        .unwrap_or_else(|e| panic!("SIGKILL the primary: {e}"));
    std::thread::sleep(DECIDE);
    pg.promote()
        .unwrap_or_else(|e| panic!("promote the standby: {e}"));
    let promoted = Instant::now();
    let recovered = support::wait_until(Duration::from_secs(30), || {
        fleet
            .report_except(promoted, &["cut-off"])
            .silent
            .is_empty()
    });
    sleep_until(cut + CUT_OFF);

    // The pool is full: a new agent must be refused (M1, I1).
    let silent_for = cut.elapsed();
    let mut newcomer = Fleet::launch(&agent_bin, vec![Spec::new("newcomer", &manager.url, "vdp")]);
    let new_exit = newcomer
        .agent_mut("newcomer")
        .wait_exit(Duration::from_secs(8));
    let new_log = newcomer.agent("newcomer").lines().join("\n");
    let new_ran = newcomer.agent("newcomer").command_pid().is_some();

    // The cut-off component comes back: its own grant must still be there.
    let resumed = Instant::now();
    fleet.agent("cut-off").signal(Signal::SIGCONT);
    let victim_renewed = support::wait_until(Duration::from_secs(10), || {
        fleet
            .agent("cut-off")
            .successes()
            .iter()
            .any(|t| *t >= resumed)
    });
    std::thread::sleep(Duration::from_millis(500));
    let victim_regranted = fleet.agent("cut-off").regranted_since(resumed);
    let victim_held = manager
        .grant_of("cut-off")
        .and_then(|g| g["grant_id"].as_str().map(str::to_owned));
    let usage = manager.usage();
    let grace_exceeded: Vec<String> = usage
        .iter()
        .filter(|u| u["end_reason"] == "grace_exceeded")
        .map(|u| format!("{}:{}", u["hostname"], u["grant_id"]))
        .collect();
    let reported = clock_step_lines(&format!("{}\n{}", manager.full_log(), manager.health()));
    let r = fleet.report_except(killed, &["cut-off"]);
    let dead: Vec<String> = fleet
        .dead()
        .into_iter()
        .filter(|d| d.starts_with("steady-"))
        .collect();

    note(&format!(
        "FIGURES {case}: standby {:.1} s ahead (libfaketime), grace {STEP_GRACE_S} s, reclaim margin {RECLAIM_S} s; cut-off component silent {} when a new agent asked: new agent exit {new_exit:?} (command started {new_ran}); grace_exceeded usage rows {}; cut-off grant still its own {}, renewed after SIGCONT {victim_renewed}; storage clock step reported: {}; steady agents' worst renewal gap {} ({}), in grace {}; wall time {}",
        lead_ms as f64 / 1000.0,
        secs(silent_for),
        grace_exceeded.len(),
        victim_held.as_deref() == Some(victim.as_str()),
        reported.first().map_or("no", String::as_str),
        secs(r.worst_gap),
        r.worst_gap_agent,
        r.entered_grace,
        secs(started.elapsed())
    ));

    let mut failures = Vec::new();
    if new_exit != Some(EXIT_NEVER_LICENSED) || !new_log.contains("servers_exceeded") || new_ran {
        failures.push(format!(
            "M9/I1 broken: after a +{STEP_S} s storage clock step (within grace {STEP_GRACE_S} s) a new agent was not refused `servers_exceeded` while the pool was full with a component still in grace (exit {new_exit:?}, command started {new_ran}). Its log:\n{new_log}"
        ));
    }
    if !grace_exceeded.is_empty() {
        failures.push(format!(
            "M9 broken: the storage clock step reclaimed grants of components still in grace (usage rows ended grace_exceeded: {grace_exceeded:?})"
        ));
    }
    if victim_held.as_deref() != Some(victim.as_str()) || victim_regranted || !victim_renewed {
        failures.push(format!(
            "M9/I1 broken: the cut-off component lost its grant {victim} to the step (held now: {victim_held:?}, re-granted {victim_regranted}, renewed {victim_renewed}). Its log:\n{}",
            fleet.agent("cut-off").tail(8)
        ));
    }
    if reported.is_empty() {
        failures.push(format!(
            "M9 broken: the +{STEP_S} s storage clock step was reported neither in the manager's log nor on /v1/health"
        ));
    }
    if !recovered || !dead.is_empty() || r.must_stop > 0 {
        failures.push(format!(
            "I4 broken: steady components did not ride the failover out (renewed again {recovered}, stopped {dead:?})"
        ));
    }
    assert!(failures.is_empty(), "{case}:\n{}", failures.join("\n"));
}

fn standby_clock_hour_ahead_tenured() {
    standby_clock_hour_ahead("pg-clock-ahead-tokio", Flavor::Tokio);
}

fn standby_clock_hour_ahead_tenured_smol() {
    standby_clock_hour_ahead("pg-clock-ahead-smol", Flavor::Smol);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "synchronous_failover_tenured",
            &[TENURED, AGENT, Need::PgServerBinaries],
            synchronous_failover_tenured,
        ),
        trial(
            "synchronous_failover_tenured_smol",
            &[TENURED_SMOL, AGENT, Need::PgServerBinaries],
            synchronous_failover_tenured_smol,
        ),
        trial(
            "standby_clock_hour_ahead_tenured",
            &[TENURED, AGENT, FAKETIME, Need::PgServerBinaries],
            standby_clock_hour_ahead_tenured,
        ),
        trial(
            "standby_clock_hour_ahead_tenured_smol",
            &[TENURED_SMOL, AGENT, FAKETIME, Need::PgServerBinaries],
            standby_clock_hour_ahead_tenured_smol,
        ),
    ])
}
