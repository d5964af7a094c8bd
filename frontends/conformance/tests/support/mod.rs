//! Shared machinery: finding the binary under test, starting servers, a small
//! HTTP/1.1 client, licenses and certificates.
#![allow(dead_code)]

pub mod client;
pub mod license;
pub mod server;
pub mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};

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
    pub const fn file_name(self) -> &'static str {
        match self {
            Self::Tokio => "tenured",
            Self::Smol => "tenured-smol",
        }
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
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

/// Which binary `flavor` tests, or why it is skipped (`Err`).
///
/// `TENURE_SERVER_BIN=PATH` names the one binary to test: the `smol` module takes
/// it when its file name is `tenured-smol`, the `tokio` module otherwise, and the
/// other module skips. Unset, each module takes `<target>/debug/<its binary>`.
pub fn resolve(flavor: Flavor) -> Result<Bin, String> {
    if let Some(path) = std::env::var_os("TENURE_SERVER_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        let is_smol = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tenured-smol"));
        let mine = (flavor == Flavor::Smol) == is_smol;
        if !mine {
            return Err(format!(
                "TENURE_SERVER_BIN={} is tested by the other module",
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
    } else if under_ci() {
        panic!(
            "CI=true and the server binary {} is missing (build it first, or set TENURE_SERVER_BIN)",
            path.display()
        );
    } else {
        Err(format!(
            "{} not found (set TENURE_SERVER_BIN or build it; CI=true makes this a failure)",
            path.display()
        ))
    }
}

/// `tenure-agent`, for the cases that run real components against the
/// server under test: `TENURE_AGENT_BIN`, else the one beside the server
/// binary, else `<target>/debug/tenure-agent`. Missing is a skip (`Err`),
/// or a failure when `CI=true`.
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
    assert!(!under_ci(), "CI=true and {why}");
    Err(why)
}

/// Runs one case against the binary of `flavor`, or prints why it is skipped.
pub fn run(flavor: Flavor, case: &str, f: fn(&Bin)) {
    match resolve(flavor) {
        Ok(bin) => f(&bin),
        Err(why) => note(&format!("SKIP {}::{case}: {why}", flavor.file_name())),
    }
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
