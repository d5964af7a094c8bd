//! M3 and I10 with real processes: two `tenure-agent run` that claim one
//! instance (one hostname and port) against the server under test. They start
//! together and both get a grant; the later grant replaces the earlier, whose
//! next renewal hears 403 `replaced` and stops its agent. The newer keeps
//! running; storage holds one grant and one `replaced` usage row.

use super::assert_replaced;
use crate::support::{Bin, Fixture, Launch, Server, agent_bin, eventually, json_array};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// `tenure-agent`'s exit status when the manager answers a renewal with 403
/// `replaced` (`REPLACED`, docs/agent.md).
pub const AGENT_EXIT_REPLACED: i32 = 74;

const HOST: &str = "twin.example.com";
const PORT: u16 = 7777;

/// One agent process; killed on drop (its command goes with it, A7).
struct Agent {
    child: Child,
    pidfile: PathBuf,
    log: PathBuf,
}

impl Agent {
    fn spawn(agent: &Path, url: &str, dir: &Path, name: &str) -> Self {
        let pidfile = dir.join(format!("{name}.pid"));
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("agent log");
        let mut cmd = Command::new(agent);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TENURE_") {
                cmd.env_remove(k);
            }
        }
        let port = PORT.to_string();
        cmd.args(["run", "--manager", url, "--product", "vdp"])
            .args(["--hostname", HOST, "--port", &port, "--cores", "1"])
            .args(["--request-timeout", "2s", "--kill-timeout", "2s", "--"])
            .args([
                "sh",
                "-c",
                &format!("echo $$ > {}; exec sleep 120", pidfile.display()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", agent.display()));
        Self {
            child,
            pidfile,
            log,
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The licensed command's pid, once it started.
    fn command_pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- agent log {}:\n{}", self.log.display(), self.log());
        }
    }
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter says it is gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

pub fn twin_agents_the_older_stops(bin: &Bin) {
    // Declared as `support::AGENT`: the kit found it before the case ran.
    let agent = agent_bin(bin).unwrap_or_else(|why| panic!("{why}"));
    let fixture = Fixture::standard("conf-twins-1");
    let launch = Launch::new(&fixture)
        .arg("--renew-every", "1s")
        .arg("--lease-ttl", "3s");
    let server = Server::start(bin, launch);
    let dir = tempfile::Builder::new()
        .prefix("tenure-conformance-twins-")
        .tempdir()
        .expect("temp dir");
    let mut twins = [
        Agent::spawn(&agent, &server.url, dir.path(), "first"),
        Agent::spawn(&agent, &server.url, dir.path(), "second"),
    ];
    // I10: the older stops at its next renewal (1 s, ±10 %); the bound only
    // keeps a broken manager, under which both run on, from hanging the test.
    let stopped = eventually(Duration::from_secs(20), || {
        twins.iter_mut().position(|a| a.exited().is_some())
    })
    .unwrap_or_else(|| {
        panic!(
            "neither twin stopped: two processes share one instance;\nfirst:\n{}\nsecond:\n{}",
            twins[0].log(),
            twins[1].log()
        )
    });
    let survivor = 1 - stopped;
    let status = twins[stopped].exited().expect("exited");
    assert_eq!(
        status.code(),
        Some(AGENT_EXIT_REPLACED),
        "the replaced twin's exit status ({status:?}); its log:\n{}",
        twins[stopped].log()
    );
    for a in &twins {
        assert!(
            a.command_pid().is_some(),
            "each twin was licensed once and started its command (A1)"
        );
    }
    if let Some(pid) = twins[stopped].command_pid() {
        assert!(
            eventually(Duration::from_secs(5), || (!alive(pid)).then_some(())).is_some(),
            "the replaced twin's command still runs"
        );
    }
    // Three renewals of the newer one later, it still runs.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        twins[survivor].exited().is_none(),
        "the newer twin stopped too; its log:\n{}",
        twins[survivor].log()
    );
    let pid = twins[survivor].command_pid().expect("newer twin's command");
    assert!(alive(pid), "the newer twin's command stopped");

    let listing = server.admin("GET", "/v1/grants", None);
    assert_eq!(listing.status, 200, "{}", listing.describe());
    let listing = listing.json();
    let held = json_array(&listing, &["grants"]);
    assert_eq!(held.len(), 1, "one grant for one instance: {listing}");
    assert_eq!(held[0]["hostname"].as_str(), Some(HOST), "{listing}");
    assert_eq!(held[0]["port"].as_u64(), Some(u64::from(PORT)), "{listing}");
    let usage = server.admin("GET", "/v1/usage", None).json();
    let rows = json_array(&usage, &["usage", "rows"]);
    let reasons: Vec<_> = rows.iter().map(|r| r["end_reason"].as_str()).collect();
    assert_eq!(reasons, [Some("replaced")], "{usage}");
    let replaced = rows[0]["grant_id"].as_str().expect("grant_id");
    assert_ne!(Some(replaced), held[0]["grant_id"].as_str());
    // What the older twin heard, and hears again: final, naming the instance.
    assert_replaced(&server.renew(replaced), "production", HOST, PORT);
}
