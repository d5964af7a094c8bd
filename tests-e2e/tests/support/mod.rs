//! Machinery of the end-to-end suite: finding binaries, licenses, databases
//! (and a replicated PostgreSQL pair), managers, HAProxy, nginx, a fault
//! proxy, a TCP proxy that can be cut, libfaketime and fleets of `tenure-agent` processes. Written for this
//! crate (ideas from frontends/conformance/tests/support, nothing imported).
#![allow(dead_code)]

pub mod agents;
pub mod cut_proxy;
pub mod db;
pub mod faketime;
pub mod haproxy;
pub mod http;
pub mod license;
pub mod manager;
pub mod nginx;
pub mod proxy;
pub mod replication;
pub mod wording;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tenure_testkit::Need;

// Each test file uses some of these.
#[allow(unused_imports)]
pub use agents::Fleet;
#[allow(unused_imports)]
pub use db::{Database, PrivatePg};
#[allow(unused_imports)]
pub use haproxy::Haproxy;
#[allow(unused_imports)]
pub use license::Setup;
#[allow(unused_imports)]
pub use manager::Manager;

/// Written straight to the process's stderr (not through `eprintln!`, which
/// the test harness captures) so it shows in CI logs for passing tests too.
pub fn note(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The cases measure timings on a small machine: one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_dir().join(dir)
            }
        }
        None => workspace_dir().join("target"),
    }
}

/// `<target>/debug/<name>` if it exists.
pub fn built(name: &str) -> Option<PathBuf> {
    let p = target_dir().join("debug").join(name);
    p.is_file().then_some(p)
}

/// A built binary (`tenured`, `tenured-smol`, `tenure-agent`), or why
/// there is none.
pub fn required(name: &str) -> Result<PathBuf, String> {
    built(name).ok_or_else(|| {
        format!(
            "{name} not built under {}/debug (cargo build --workspace --bins)",
            target_dir().display()
        )
    })
}

/// The `tenure-agent` binary: where it is built is decided here only.
pub fn agent_binary() -> Result<PathBuf, String> {
    required("tenure-agent")
}

/// Which server binary a manager runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Tokio,
    Smol,
}

impl Flavor {
    pub const fn file_name(self) -> &'static str {
        match self {
            Self::Tokio => "tenured",
            Self::Smol => "tenured-smol",
        }
    }

    /// Both manager flavors, for the cases that run against each.
    pub const ALL: [Self; 2] = [Self::Tokio, Self::Smol];

    /// The binary, or why there is none.
    pub fn binary(self) -> Result<PathBuf, String> {
        match self {
            Self::Tokio => required("tenured"),
            Self::Smol => required("tenured-smol"),
        }
    }

    /// The binary as a need the kit probes before the case runs.
    pub const fn need(self) -> Need {
        match self {
            Self::Tokio => TENURED,
            Self::Smol => TENURED_SMOL,
        }
    }
}

// What the cases need, probed by tenure-testkit before any runs: missing,
// a case is reported as ignored, or fails under CI=true.
pub const TENURED: Need = Need::Other("tenured", || Flavor::Tokio.binary().map(drop));
pub const TENURED_SMOL: Need = Need::Other("tenured-smol", || Flavor::Smol.binary().map(drop));
pub const AGENT: Need = Need::Other("tenure-agent", || agent_binary().map(drop));
pub const HAPROXY: Need = Need::Other("haproxy", || haproxy::binary().map(drop));
pub const NGINX: Need = Need::Other("nginx", || nginx::binary().map(drop));
pub const FAKETIME: Need = Need::Other("libfaketime", || faketime::library().map(drop));

/// What `got` found, which the case declared as a need: the kit saw it
/// before the case ran, so `Err` here is a broken set-up.
pub fn needed<T>(case: &str, got: Result<T, String>) -> T {
    got.unwrap_or_else(|why| panic!("{case}: {why}"))
}

pub use tenure_testkit::free_port;

/// Polls `f` every 100 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// The tail of a log file, for failure messages.
pub fn tail(path: &Path, max: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    if s.len() <= max {
        return s;
    }
    let mut cut = s.len() - max;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    format!("...{}", &s[cut..])
}
