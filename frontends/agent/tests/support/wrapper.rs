//! The `tenure-agent run` binary as a process, for the tests of the wrapper
//! against real managers.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `tenure-agent run` for production/vdp on `host`, running `sh -c script`.
pub fn agent(url: &str, host: &str, script: &str) -> Child {
    agent_with(url, host, script, &[])
}

/// [`agent`] with further flags of `run`.
pub fn agent_with(url: &str, host: &str, script: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tenure-agent"))
        .args(["run", "--manager", url, "--product", "vdp"])
        .args(extra)
        .args(["--hostname", host, "--port", "9999", "--cores", "4"])
        .args(["--kill-timeout", "2s", "--request-timeout", "2s"])
        .args(["--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tenure-agent")
}

/// A command that writes its pid to `pidfile`, then sleeps as that process.
pub fn sleeper(pidfile: &Path) -> String {
    format!("echo $$ > {}; exec sleep 120", pidfile.display())
}

pub fn pid(child: &Child) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"))
}

/// The exit code, or 128 + the signal, within `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            use std::os::unix::process::ExitStatusExt;
            return status.code().or_else(|| status.signal().map(|s| 128 + s));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}
