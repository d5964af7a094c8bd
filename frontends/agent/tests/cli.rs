//! The real `tenure-agent` binary against a fake manager, running a shell.

mod support;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::Stdio;
use std::time::Duration;
use support::fake::{FakeManager, Mode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

const AGENT: &str = env!("CARGO_BIN_EXE_tenure-agent");

struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

/// `tenure-agent run` for vdp1.example.com against `managers`, running
/// `sh -c script`.
fn command(managers: &str, script: &str) -> Command {
    let mut command = Command::new(AGENT);
    command
        .args(["run", "--manager", managers, "--product", "vdp"])
        .args(["--hostname", "vdp1.example.com", "--port", "9999"])
        .args([
            "--cores",
            "8",
            "--request-timeout",
            "1s",
            "--kill-timeout",
            "1s",
        ])
        .args(["--", "sh", "-c", script])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

fn spawn(fake: &FakeManager, script: &str) -> Running {
    let mut child = command(&fake.url(), script)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tenure-agent");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = tx.send(line);
        }
    });
    Running { child, lines }
}

impl Running {
    /// The first line the command printed, within `limit`.
    async fn line(&mut self, limit: Duration) -> Option<String> {
        timeout(limit, self.lines.recv()).await.ok().flatten()
    }

    async fn exit_code(&mut self, limit: Duration) -> i32 {
        let status = timeout(limit, self.child.wait())
            .await
            .expect("tenure-agent exits in time")
            .expect("wait");
        status.code().expect("exited, not killed")
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id().expect("running")).expect("pid"))
    }
}

/// The pid a `echo started $$` line names.
fn shell_pid(line: &str) -> Pid {
    let pid = line
        .split_whitespace()
        .nth(1)
        .expect("pid")
        .parse()
        .expect("number");
    Pid::from_raw(pid)
}

fn gone(pid: Pid) -> bool {
    kill(pid, None).is_err()
}

#[tokio::test]
async fn refused_first_grant_never_starts_the_command() {
    let fake = FakeManager::start(2, 1, 30);
    fake.set_mode(Mode::Full);
    let mut agent = spawn(&fake, "echo started; sleep 30");
    assert_eq!(agent.exit_code(Duration::from_secs(10)).await, 69);
    assert_eq!(agent.line(Duration::from_millis(200)).await, None);
    assert_eq!(fake.count("POST", "/v1/grants", 403), 1);
}

#[tokio::test]
async fn sigterm_reaches_the_command_and_the_grant_is_released() {
    let fake = FakeManager::start(2, 1, 30);
    let mut agent = spawn(&fake, "echo started $$; sleep 30");
    let line = agent
        .line(Duration::from_secs(10))
        .await
        .expect("command started");
    assert!(line.starts_with("started"), "{line}");
    // A1: the command printed only after the manager granted.
    assert_eq!(fake.count("POST", "/v1/grants", 201), 1);
    let shell = shell_pid(&line);
    kill(agent.pid(), Signal::SIGTERM).expect("signal tenure-agent");
    // The shell dies of the forwarded SIGTERM: 128 + 15.
    assert_eq!(agent.exit_code(Duration::from_secs(10)).await, 143);
    assert!(gone(shell), "the command is still running");
    assert_eq!(fake.releases(), 1, "{:?}", fake.seen());
}

#[tokio::test]
async fn grace_expiry_kills_the_command_with_its_own_code() {
    let fake = FakeManager::start(1, 1, 3);
    // The trap makes the shell ignore SIGTERM, so only SIGKILL after --kill-timeout ends it.
    let mut agent = spawn(
        &fake,
        "trap '' TERM; echo started $$; while :; do sleep 1; done",
    );
    let line = agent
        .line(Duration::from_secs(10))
        .await
        .expect("command started");
    let shell = shell_pid(&line);
    fake.go_down();
    assert_eq!(agent.exit_code(Duration::from_secs(12)).await, 70);
    assert!(gone(shell), "the command outlived grace");
}

#[tokio::test]
async fn revocation_stops_the_command() {
    let fake = FakeManager::start(2, 1, 30);
    let mut agent = spawn(&fake, "echo started $$; sleep 30");
    let line = agent
        .line(Duration::from_secs(10))
        .await
        .expect("command started");
    fake.set_mode(Mode::Revoked);
    assert_eq!(agent.exit_code(Duration::from_secs(10)).await, 71);
    assert!(gone(shell_pid(&line)));
}

#[tokio::test]
async fn a_command_that_ends_by_itself_gives_its_code_and_releases() {
    let fake = FakeManager::start(2, 1, 30);
    let mut agent = spawn(&fake, "echo started; exit 3");
    assert_eq!(
        agent.line(Duration::from_secs(10)).await.as_deref(),
        Some("started")
    );
    assert_eq!(agent.exit_code(Duration::from_secs(10)).await, 3);
    assert_eq!(fake.releases(), 1);
}

/// Starts `tenure-agent` against a manager URL off this host on plain
/// http:// (then the fake manager), with `--token-file` when given, and
/// returns it with its warnings about plain http://, read up to its first
/// grant request.
async fn plain_http_warnings(
    fake: &FakeManager,
    token: Option<&std::path::Path>,
) -> (tokio::process::Child, Vec<String>) {
    // 192.0.2.1 is TEST-NET-1: never a manager, never loopback.
    let managers = format!("http://192.0.2.1:9,{}", fake.url());
    let mut cmd = Command::new(AGENT);
    cmd.args(["run", "--manager", &managers, "--product", "vdp"]);
    if let Some(token) = token {
        cmd.arg("--token-file").arg(token);
    }
    let mut child = cmd
        .args([
            "--hostname",
            "vdp1.example.com",
            "--port",
            "9999",
            "--cores",
            "8",
        ])
        .args(["--request-timeout", "1s", "--", "sleep", "30"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tenure-agent");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut before_grant = Vec::new();
    let read = timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("asking for a grant") {
                return true;
            }
            before_grant.push(line);
        }
        false
    });
    assert!(
        read.await.unwrap_or(false),
        "no start line: {before_grant:?}"
    );
    let warned: Vec<String> = before_grant
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("plain http://"))
        .cloned()
        .collect();
    assert_eq!(warned.len(), 1, "{before_grant:?}");
    assert!(warned[0].contains("192.0.2.1"), "{}", warned[0]);
    (child, warned)
}

async fn stop(mut child: tokio::process::Child) {
    let pid = Pid::from_raw(i32::try_from(child.id().expect("running")).expect("pid"));
    kill(pid, Signal::SIGTERM).expect("signal tenure-agent");
    let status = timeout(Duration::from_secs(10), child.wait()).await;
    assert!(matches!(status, Ok(Ok(_))), "{status:?}");
}

#[tokio::test]
async fn plain_http_off_this_host_is_warned_about_once_at_start() {
    let fake = FakeManager::start(2, 1, 30);
    let (child, _) = plain_http_warnings(&fake, None).await;
    stop(child).await;
}

/// With `--token-file` the warning says what is at stake: the component
/// token itself crosses the network unencrypted.
#[tokio::test]
async fn a_component_token_over_plain_http_is_named_in_the_warning() {
    let fake = FakeManager::start(2, 1, 30);
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("component.token");
    std::fs::write(&token, "cli-test-component-token-0123456789\n").expect("token file");
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&token, private).expect("chmod");
    let (child, warned) = plain_http_warnings(&fake, Some(&token)).await;
    assert!(
        warned[0].contains("the component token"),
        "the warning says the token travels in the clear: {}",
        warned[0]
    );
    stop(child).await;
}
