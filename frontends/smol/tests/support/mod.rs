//! Fixtures for the black-box tests: a signed license, key and token in a temp
//! folder, real server processes, throw-away PostgreSQL databases, and a
//! minimal HTTP/1.1 client over std sockets (so a test sees exactly the bytes).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::names::Name;

pub const TOKEN: &str = "test-admin-token-0123456789";

/// Vendor key, license and admin token in a fresh temp folder.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub vendor_pub: PathBuf,
    pub license: PathBuf,
    pub token: PathBuf,
}

impl Fixture {
    pub fn new(max_managers: u32, grace_period_s: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = SecretKey::from_seed([7u8; 32]);
        let vendor_pub = dir.path().join("vendor.pub");
        std::fs::write(&vendor_pub, secret.verifying_key().to_armoured()).expect("write key");
        let now = UnixMillis(
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_millis(),
            )
            .expect("ms"),
        );
        let name = |s: &str| Name::parse("test", s).expect("name");
        let mut products = BTreeMap::new();
        products.insert(
            name("vdp"),
            Limits {
                max_servers: Some(50),
                ..Limits::default()
            },
        );
        let mut limits = BTreeMap::new();
        limits.insert(name("production"), products);
        let license = License {
            license_id: "TEST-SMOL-1".into(),
            licensee: "Smol Tests".into(),
            issued_at: now,
            not_before: now.saturating_sub(Duration::from_secs(3600)),
            not_after: now.saturating_add(Duration::from_secs(86_400)),
            max_managers,
            grace_period_s,
            limits,
            extra: BTreeMap::new(),
        };
        let lic = dir.path().join("license.lic");
        std::fs::write(&lic, sign(&license, &secret).expect("sign")).expect("write license");
        let token = dir.path().join("admin.token");
        std::fs::write(&token, format!("{TOKEN}\n")).expect("write token");
        // `serve` refuses a token file open to others (§7.1).
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod token");
        Self {
            dir,
            vendor_pub,
            license: lic,
            token,
        }
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("tenure.db").display())
    }
}

/// `tenured-smol` as cargo built it for this test run.
pub fn smol_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenured-smol"))
}

/// The tokio `tenured`, built beside `tenured-smol` (same target dir) or in
/// `$CARGO_TARGET_DIR/debug`. Trials declare it as `Need::Built`.
pub fn tokio_bin() -> PathBuf {
    tenure_testkit::built("tenured").unwrap_or_else(|e| panic!("the tokio `tenured` binary: {e}"))
}

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    /// Starts `bin serve` on 127.0.0.1:0 with the fixture's files and waits for
    /// its `tenured listening on URL` line.
    pub fn start(bin: &Path, fx: &Fixture, database: &str, extra: &[&str]) -> Server {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = fx.dir.path().join(format!("server-{n}.log"));
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--database", database])
            .arg("--license")
            .arg(&fx.license)
            .arg("--vendor-key")
            .arg(&fx.vendor_pub)
            .arg("--admin-token-file")
            .arg(&fx.token)
            .arg("--migrate")
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut child = cmd.spawn().expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let url = match tenure_testkit::listening_url(stdout, Duration::from_secs(30), |_| {}) {
            Ok(url) => url,
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "{} did not start ({e}): {}",
                    bin.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let addr = url
            .split("://")
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {url}"));
        Server {
            child,
            url,
            addr,
            log,
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), sig).expect("signal");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed HTTP/1.1 answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

/// Parses a complete answer from all the bytes of a closed connection;
/// `None` when it is cut short (no full head, or fewer body bytes than
/// `Content-Length` says).
pub fn parse(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = raw[end + 4..].to_vec();
    let answer = Answer {
        status,
        headers,
        body,
    };
    let len: usize = answer
        .header("content-length")
        .unwrap_or("0")
        .parse()
        .ok()?;
    (answer.body.len() == len).then_some(answer)
}

/// Builds a request with `Connection: close`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes and reads until the server closes; the raw answer.
pub fn exchange_raw(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.write_all(bytes)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(raw)
}

pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let raw = exchange_raw(addr, &request(method, path, headers, body)).expect("exchange");
    parse(&raw).unwrap_or_else(|| panic!("incomplete answer: {:?}", String::from_utf8_lossy(&raw)))
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");
pub const ADMIN: (&str, &str) = ("Authorization", "Bearer test-admin-token-0123456789");

pub fn grant_body(host: &str) -> Vec<u8> {
    format!(r#"{{"product":"vdp","hostname":"{host}","port":9999,"cores":8}}"#).into_bytes()
}

/// Grants for `host`; the grant id.
pub fn grant(addr: SocketAddr, host: &str) -> String {
    let a = call(addr, "POST", "/v1/grants", &[JSON], &grant_body(host));
    assert_eq!(a.status, 201, "{}", a.text());
    a.json()["grant_id"].as_str().expect("grant_id").to_owned()
}

/// A fresh PostgreSQL database, dropped with this value; `None` (skip) when
/// the server is unreachable outside CI.
#[derive(Debug)]
pub struct PgDb {
    pub url: String,
    name: String,
}

use tenure_testkit::postgres_url as pg_server;

fn pg_admin(sql: &str) -> Result<(), String> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut c = diesel::PgConnection::establish(&format!("{}/postgres", pg_server()))
        .map_err(|e| e.to_string())?;
    c.batch_execute(sql).map_err(|e| e.to_string())
}

impl PgDb {
    pub fn create() -> PgDb {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("tenure_smol_{}_{n}", std::process::id());
        if let Err(e) = pg_admin(&format!("CREATE DATABASE {name}")) {
            panic!("create a PostgreSQL database on {}: {e}", pg_server());
        }
        PgDb {
            url: format!("{}/{name}", pg_server()),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Err(e) = pg_admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("could not drop {}: {e}", self.name);
        }
    }
}
