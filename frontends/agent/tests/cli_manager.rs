//! `tenure-agent` against a real `tenured` with a short-grace license: the
//! command starts only after a grant, rides out an outage
//! shorter than grace, is stopped when grace runs out, is not started while
//! the manager is down, stops on revocation, and releases on SIGTERM.

mod support;
#[path = "support/wrapper.rs"]
mod wrapper;

use nix::sys::signal::{Signal, kill};
use std::time::Duration;
use support::*;
use wrapper::{agent, sleeper, wait_exit};

const GRACE_S: u64 = 6;
/// The outage case's grace. A manager killed without deregistering keeps
/// its node id for the liveness window (10 s): the restarted process with
/// the same id serves only then (M6), so grace must outlast that.
const OUTAGE_GRACE_S: u64 = 16;

fn tenured() -> Option<std::path::PathBuf> {
    server_bin("tenured")
}

fn start(bin: &std::path::Path, fx: &Fixture, port: u16) -> Server {
    Server::start(
        bin,
        fx,
        &format!("127.0.0.1:{port}"),
        &fx.sqlite_url(),
        &FAST,
    )
}

#[test]
fn not_started_while_down_then_starts_after_grant_and_releases_on_sigterm() {
    let Some(bin) = tenured() else { return };
    let fx = Fixture::new(GRACE_S, 4);
    let port = free_port();
    let pidfile = fx.path("child.pid");
    let mut agent = agent(
        &format!("http://127.0.0.1:{port}"),
        "a1",
        &sleeper(&pidfile),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        pid_in(&pidfile).is_none(),
        "the command started with no manager reachable (A1)"
    );
    let server = start(&bin, &fx, port);
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&pidfile).is_some()),
        "never started after the manager came up"
    );
    let pid = pid_in(&pidfile).expect("pid");
    assert!(alive(pid));
    assert_eq!(server.held(), 1);
    kill(wrapper::pid(&agent), Signal::SIGTERM).expect("SIGTERM");
    let code = wait_exit(&mut agent, Duration::from_secs(10)).expect("agent exits after SIGTERM");
    assert_eq!(
        code, 143,
        "the command's own status after the forwarded SIGTERM"
    );
    assert!(
        wait_until(Duration::from_secs(5), || !alive(pid)),
        "command still running"
    );
    assert_eq!(server.held(), 0, "grant released on a clean stop (A5)");
    let (_, usage) = server.admin("GET", "/v1/usage");
    assert!(usage.contains("\"end_reason\":\"released\""), "{usage}");
}

#[test]
fn rides_out_a_short_outage_then_stops_when_grace_runs_out() {
    let Some(bin) = tenured() else { return };
    let fx = Fixture::new(OUTAGE_GRACE_S, 4);
    let port = free_port();
    let mut server = start(&bin, &fx, port);
    let pidfile = fx.path("child.pid");
    let mut agent = agent(&server.url.clone(), "a2", &sleeper(&pidfile));
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&pidfile).is_some()),
        "never started"
    );
    let pid = pid_in(&pidfile).expect("pid");
    // An outage of half the grace period: nothing stops (I4).
    server.kill();
    let killed = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(OUTAGE_GRACE_S / 2));
    assert!(alive(pid), "stopped during an outage shorter than grace");
    assert!(agent.try_wait().expect("try_wait").is_none());
    let server = start(&bin, &fx, port);
    // Past the grace the outage began: only a renewal can keep it running.
    std::thread::sleep((Duration::from_secs(OUTAGE_GRACE_S + 2)).saturating_sub(killed.elapsed()));
    assert!(
        alive(pid),
        "stopped although the manager came back within grace"
    );
    assert_eq!(server.held(), 1);
    // Now for good: the command must stop at the end of grace, not much later (I2).
    drop(server);
    let started = std::time::Instant::now();
    let code = wait_exit(&mut agent, Duration::from_secs(OUTAGE_GRACE_S + 10))
        .expect("agent stops after grace");
    assert_eq!(code, 70, "documented exit code for grace expiry");
    assert!(
        started.elapsed() <= Duration::from_secs(OUTAGE_GRACE_S + 3),
        "ran {:?} past the outage",
        started.elapsed()
    );
    assert!(
        wait_until(Duration::from_secs(5), || !alive(pid)),
        "command still running after grace"
    );
}

#[test]
fn revocation_stops_the_command() {
    let Some(bin) = tenured() else { return };
    let fx = Fixture::new(GRACE_S, 4);
    let server = start(&bin, &fx, free_port());
    let pidfile = fx.path("child.pid");
    let mut agent = agent(&server.url, "a3", &sleeper(&pidfile));
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&pidfile).is_some()),
        "never started"
    );
    let pid = pid_in(&pidfile).expect("pid");
    let (_, body) = server.admin("GET", "/v1/grants");
    let grants: Vec<serde_json::Value> = serde_json::from_str(&body).expect("grants json");
    let id = grants[0]["grant_id"].as_str().expect("grant id").to_owned();
    let (status, _) = server.admin("DELETE", &format!("/v1/admin/grants/{id}"));
    assert_eq!(status, 204);
    let code = wait_exit(&mut agent, Duration::from_secs(10)).expect("agent stops on revoke");
    assert_eq!(code, 71, "documented exit code for revocation");
    assert!(wait_until(Duration::from_secs(5), || !alive(pid)));
}

#[test]
fn a_full_pool_never_starts_the_command() {
    let Some(bin) = tenured() else { return };
    let fx = Fixture::new(GRACE_S, 1);
    let server = start(&bin, &fx, free_port());
    let first_pid = fx.path("first.pid");
    let mut first = agent(&server.url, "b1", &sleeper(&first_pid));
    assert!(wait_until(Duration::from_secs(20), || pid_in(&first_pid).is_some()));
    let second_pid = fx.path("second.pid");
    let mut second = agent(&server.url, "b2", &sleeper(&second_pid));
    let code = wait_exit(&mut second, Duration::from_secs(10)).expect("denied agent exits");
    assert_eq!(code, 69, "documented exit code for a refused first grant");
    assert!(pid_in(&second_pid).is_none(), "the denied command ran");
    let _ = kill(wrapper::pid(&first), Signal::SIGTERM);
    assert!(wait_exit(&mut first, Duration::from_secs(10)).is_some());
}
