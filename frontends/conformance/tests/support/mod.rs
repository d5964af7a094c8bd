//! Shared machinery: finding the binary under test, starting servers, a small
//! HTTP/1.1 client, licenses and certificates.
#![allow(dead_code)]

pub mod client;
pub mod license;
pub mod server;
pub mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use tenure_testkit::Need;

pub use client::{Response, assert_error, json_array};
pub use license::Fixture;
pub use server::{Exited, Launch, Server};

/// The binary a test module runs against.
#[derive(Debug, Clone)]
pub struct Bin {
    pub path: PathBuf,
}

/// A `tokio` or `smol` module of `tests/http.rs`, with the file name of its binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Tokio,
    Smol,
}

impl Flavor {
    /// The module its cases are named under, as libtest named them.
    pub const fn module(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::Smol => "smol",
        }
    }

    pub const fn file_name(self) -> &'static str {
        match self {
            Self::Tokio => "tenured",
            Self::Smol => "tenured-smol",
        }
    }
}

/// Written straight to the process's stderr so that it shows even when the
/// test harness captures the output of passing tests.
pub fn note(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn workspace_dir() -> PathBuf {
    // frontends/conformance -> workspace root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
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

/// Whether `flavor` is asked for: `TENURE_SERVER_BIN=PATH` names the one
/// binary to test, the `smol` flavor's when its file name is `tenured-smol`,
/// the `tokio` flavor's otherwise.
pub fn chosen(flavor: Flavor) -> bool {
    std::env::var_os("TENURE_SERVER_BIN")
        .filter(|v| !v.is_empty())
        .is_none_or(|path| {
            let is_smol = Path::new(&path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("tenured-smol"));
            (flavor == Flavor::Smol) == is_smol
        })
}

/// Which binary `flavor` tests: `TENURE_SERVER_BIN` when [`chosen`], else
/// `<target>/debug/<its binary>`; `Err` says why there is none.
pub fn resolve(flavor: Flavor) -> Result<Bin, String> {
    if let Some(path) = std::env::var_os("TENURE_SERVER_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        if !chosen(flavor) {
            return Err(format!(
                "TENURE_SERVER_BIN={} is tested by the other flavor",
                path.display()
            ));
        }
        assert!(
            path.is_file(),
            "TENURE_SERVER_BIN={} is not a file",
            path.display()
        );
        return Ok(Bin { path });
    }
    let path = target_dir().join("debug").join(flavor.file_name());
    if path.is_file() {
        Ok(Bin { path })
    } else {
        Err(format!(
            "{} not found (set TENURE_SERVER_BIN or build it)",
            path.display()
        ))
    }
}

/// The binary of `flavor` as a need the kit probes before the cases run.
pub fn need(flavor: Flavor) -> Need {
    match flavor {
        Flavor::Tokio => Need::Other("the tenured binary", || resolve(Flavor::Tokio).map(drop)),
        Flavor::Smol => Need::Other("the tenured-smol binary", || {
            resolve(Flavor::Smol).map(drop)
        }),
    }
}

/// The binary of `flavor`, which the kit found before the case ran.
pub fn bin(flavor: Flavor) -> Bin {
    resolve(flavor).unwrap_or_else(|why| panic!("{why}"))
}

/// `tenure-agent` beside either server binary, for the cases that run one.
pub const AGENT: Need = Need::Other("tenure-agent", || {
    let server = resolve(Flavor::Tokio).or_else(|_| resolve(Flavor::Smol))?;
    agent_bin(&server).map(drop)
});

/// `tenure-agent`, for the cases that run real components against the
/// server under test: `TENURE_AGENT_BIN`, else the one beside the server
/// binary, else `<target>/debug/tenure-agent`; `Err` says why there is none.
pub fn agent_bin(server: &Bin) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("TENURE_AGENT_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "TENURE_AGENT_BIN={} is not a file",
            path.display()
        );
        return Ok(path);
    }
    let beside = server.path.with_file_name("tenure-agent");
    let candidates = [beside, target_dir().join("debug").join("tenure-agent")];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let why = format!(
        "tenure-agent not found (looked at {}; set TENURE_AGENT_BIN or build it)",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Err(why)
}

/// Polls `f` every 200 ms until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
