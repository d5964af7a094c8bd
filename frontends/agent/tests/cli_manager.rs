//! `tenure-agent` against a real `tenured` with a short-grace license: the
//! command starts only after a grant, rides out an outage
//! shorter than grace, is stopped when grace runs out, is not started while
//! the manager is down, stops on revocation, releases on SIGTERM, and sends
//! the component token of `--token-file`, re-read on SIGHUP (M10).

mod support;
#[path = "support/wrapper.rs"]
mod wrapper;

use nix::sys::signal::{Signal, kill};
use std::time::Duration;
use support::*;
use tenure_testkit::{Need, trial};
use wrapper::{agent, agent_with, sleeper, wait_exit};

const GRACE_S: u64 = 6;
/// The outage case's grace. A manager killed without deregistering keeps
/// its node id for the liveness window (10 s): the restarted process with
/// the same id serves only then (M6), so grace must outlast that.
const OUTAGE_GRACE_S: u64 = 16;

fn tenured() -> std::path::PathBuf {
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

/// A manager on any free port, for a case that needs no port before it starts.
fn start_any(bin: &std::path::Path, fx: &Fixture) -> Server {
    Server::start(bin, fx, "127.0.0.1:0", &fx.sqlite_url(), &FAST)
}

fn not_started_while_down_then_starts_after_grant_and_releases_on_sigterm() {
    let bin = tenured();
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

fn rides_out_a_short_outage_then_stops_when_grace_runs_out() {
    let bin = tenured();
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

fn revocation_stops_the_command() {
    let bin = tenured();
    let fx = Fixture::new(GRACE_S, 4);
    let server = start_any(&bin, &fx);
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

fn a_full_pool_never_starts_the_command() {
    let bin = tenured();
    let fx = Fixture::new(GRACE_S, 1);
    let server = start_any(&bin, &fx);
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

/// Writes a token file private to its owner.
fn private(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write token file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// The renewal time of the one held grant.
fn last_renewed(server: &Server) -> i64 {
    let (_, body) = server.admin("GET", "/v1/grants");
    let grants: Vec<serde_json::Value> = serde_json::from_str(&body).expect("grants json");
    grants[0]["last_renewed_ms"]
        .as_i64()
        .expect("last_renewed_ms")
}

fn a_token_file_licenses_the_command_and_sighup_rotates_it() {
    const OLD: &str = "wrapper-component-old-0123456789";
    const NEW: &str = "wrapper-component-new-9876543210";
    let bin = tenured();
    let fx = Fixture::new(GRACE_S, 4);
    let managers = fx.path("component.tokens");
    private(
        &managers,
        &format!("old component {OLD}\nnew component {NEW}\n"),
    );
    let managers_arg = managers.to_string_lossy().into_owned();
    let mut extra = FAST.to_vec();
    extra.extend(["--component-token-file", managers_arg.as_str()]);
    let server = Server::start(&bin, &fx, "127.0.0.1:0", &fx.sqlite_url(), &extra);
    let mine = fx.path("agent.token");
    private(&mine, &format!("{OLD}\n"));
    let mine_arg = mine.to_string_lossy().into_owned();

    // A token file others may read is refused before anything is sent.
    let open = fx.path("open.token");
    private(&open, &format!("{OLD}\n"));
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let open_arg = open.to_string_lossy().into_owned();
    let mut refused = agent_with(&server.url, "t0", "true", &["--token-file", &open_arg]);
    let code = wait_exit(&mut refused, Duration::from_secs(10)).expect("refused at once");
    assert_eq!(code, 78, "documented exit code for configuration");

    // No token: the manager answers 401, which never licenses (A1, A4).
    let anonymous_pid = fx.path("anonymous.pid");
    let mut anonymous = agent(&server.url, "t1", &sleeper(&anonymous_pid));

    // The command traps SIGHUP (the wrapper passes it on) and keeps running.
    let pidfile = fx.path("child.pid");
    let hups = fx.path("hups");
    let script = format!(
        "trap 'echo hup >> {}' HUP; echo $$ > {}; while :; do sleep 1; done",
        hups.display(),
        pidfile.display()
    );
    let mut licensed = agent_with(&server.url, "t2", &script, &["--token-file", &mine_arg]);
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&pidfile).is_some()),
        "never started with the token: {}",
        server.log_text()
    );
    let pid = pid_in(&pidfile).expect("pid");
    assert_eq!(
        server.held(),
        1,
        "only the agent with the token holds a slot"
    );
    assert!(pid_in(&anonymous_pid).is_none(), "ran without a token");

    // Rotation: the agent moves to the new token, then the managers drop
    // the old one; renewals go on throughout.
    private(&mine, &format!("# rotated\nagent component {NEW}\n"));
    kill(wrapper::pid(&licensed), Signal::SIGHUP).expect("SIGHUP the agent");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&hups)
            .is_ok_and(|h| h.contains("hup"))),
        "SIGHUP was not passed on to the command"
    );
    private(&managers, &format!("new component {NEW}\n"));
    kill(
        nix::unistd::Pid::from_raw(i32::try_from(server.child.id()).expect("pid")),
        Signal::SIGHUP,
    )
    .expect("SIGHUP the manager");
    assert!(
        wait_until(Duration::from_secs(10), || server
            .log_text()
            .contains("component token file re-read")),
        "{}",
        server.log_text()
    );
    let since = last_renewed(&server);
    assert!(
        wait_until(Duration::from_secs(10), || last_renewed(&server) > since),
        "no renewal with the new token: {}",
        server.log_text()
    );
    assert!(alive(pid) && licensed.try_wait().expect("try_wait").is_none());

    let _ = kill(wrapper::pid(&anonymous), Signal::SIGTERM);
    assert!(wait_exit(&mut anonymous, Duration::from_secs(10)).is_some());
    assert!(pid_in(&anonymous_pid).is_none(), "ran without a token");
    kill(wrapper::pid(&licensed), Signal::SIGTERM).expect("SIGTERM");
    assert!(wait_exit(&mut licensed, Duration::from_secs(10)).is_some());
    assert_eq!(server.held(), 0, "released with the new token (A5)");
}

/// Grant ids are credentials: whoever holds one may renew or release the
/// grant. The agent's log, at debug level, and the manager's name a grant
/// by its first eight hex digits only.
fn logs_name_a_grant_by_its_prefix_only() {
    let bin = tenured();
    let fx = Fixture::new(GRACE_S, 4);
    let server = start_any(&bin, &fx);
    let pidfile = fx.path("child.pid");
    let agent_log = fx.path("agent.log");
    let mut agent = std::process::Command::new(env!("CARGO_BIN_EXE_tenure-agent"))
        .args(["run", "--manager", &server.url, "--product", "vdp"])
        .args(["--hostname", "log1", "--port", "9999", "--cores", "4"])
        .args(["--kill-timeout", "2s", "--request-timeout", "2s"])
        .args(["--", "sh", "-c", &sleeper(&pidfile)])
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&agent_log).expect("agent log"))
        .spawn()
        .expect("spawn tenure-agent");
    assert!(
        wait_until(Duration::from_secs(20), || pid_in(&pidfile).is_some()),
        "never started"
    );
    let (status, body) = server.admin("GET", "/v1/grants");
    assert_eq!(status, 200, "{body}");
    let start = body
        .find("\"grant_id\":\"")
        .expect("a grant in the listing")
        + 12;
    let id = body[start..start + 32].to_owned();
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{body}");
    // A few renewals (every second here), then a release.
    std::thread::sleep(Duration::from_secs(3));
    kill(wrapper::pid(&agent), Signal::SIGTERM).expect("SIGTERM");
    wait_exit(&mut agent, Duration::from_secs(10)).expect("agent exits after SIGTERM");
    let agent_text = std::fs::read_to_string(&agent_log).expect("agent log");
    assert!(
        agent_text.contains(&id[..8]),
        "the agent's log names the grant by its prefix:\n{agent_text}"
    );
    for (who, text) in [("agent", agent_text), ("manager", server.log_text())] {
        assert!(
            !text.contains(&id),
            "the {who}'s log holds the whole grant id {id}:\n{text}"
        );
    }
}

const TENURED: &[Need] = &[Need::Built("tenured")];

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "not_started_while_down_then_starts_after_grant_and_releases_on_sigterm",
            TENURED,
            not_started_while_down_then_starts_after_grant_and_releases_on_sigterm,
        ),
        trial(
            "rides_out_a_short_outage_then_stops_when_grace_runs_out",
            TENURED,
            rides_out_a_short_outage_then_stops_when_grace_runs_out,
        ),
        trial(
            "revocation_stops_the_command",
            TENURED,
            revocation_stops_the_command,
        ),
        trial(
            "a_full_pool_never_starts_the_command",
            TENURED,
            a_full_pool_never_starts_the_command,
        ),
        trial(
            "a_token_file_licenses_the_command_and_sighup_rotates_it",
            TENURED,
            a_token_file_licenses_the_command_and_sighup_rotates_it,
        ),
        trial(
            "logs_name_a_grant_by_its_prefix_only",
            TENURED,
            logs_name_a_grant_by_its_prefix_only,
        ),
    ])
}
