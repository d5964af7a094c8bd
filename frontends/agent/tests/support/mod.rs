//! Fixtures for the agent's tests: a fake manager (`fake`), the driver cases
//! both runtimes run (`cases`), and real managers: a signed license, key and
//! token in a temp folder, `tenured` or `tenured-smol` processes on loopback,
//! throw-away PostgreSQL databases, and a minimal blocking HTTP client.
#![allow(dead_code)]

pub mod cases;
pub mod fake;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::names::Name;
use tenure_core::wire::{GrantRequest, RawGrantRequest};

pub const TOKEN: &str = "agent-test-admin-token-0123456789";

/// A valid grant request for production/vdp from `host`.
pub fn request(host: &str) -> GrantRequest {
    RawGrantRequest {
        product: Some("vdp".into()),
        hostname: Some(host.into()),
        port: Some(9999),
        cores: Some(8),
        ..RawGrantRequest::default()
    }
    .validate()
    .expect("valid request")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Vendor key, a license for production/vdp (two managers, `max_servers`,
/// `grace_s`) and an admin token in a fresh temp folder.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(grace_s: u64, max_servers: u64) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = SecretKey::from_seed([11; 32]);
        let name = |s: &str| Name::parse("t", s).expect("name");
        let mut products = BTreeMap::new();
        products.insert(
            name("vdp"),
            Limits {
                max_servers: Some(max_servers),
                ..Limits::default()
            },
        );
        let mut limits = BTreeMap::new();
        limits.insert(name("production"), products);
        let now = now_ms();
        let lic = License {
            license_id: "agent-tests".into(),
            licensee: "Agent tests".into(),
            issued_at: UnixMillis(now),
            not_before: UnixMillis(now - 86_400_000),
            not_after: UnixMillis(now + 86_400_000),
            max_managers: 2,
            grace_period_s: grace_s,
            limits,
            extra: BTreeMap::new(),
        };
        let write = |f: &str, text: String| std::fs::write(dir.path().join(f), text).expect(f);
        write("vendor.pub", key.verifying_key().to_armoured());
        write("license.lic", sign(&lic, &key).expect("sign"));
        write("admin.token", format!("{TOKEN}\n"));
        // `serve` refuses a token file open to others (§7.1).
        std::fs::set_permissions(
            dir.path().join("admin.token"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod token");
        Fixture { dir }
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.path("tenure.db").display())
    }
}

/// A server binary built in this target folder (`tenured`, `tenured-smol`).
/// Trials declare it as `Need::Built`, so the kit has seen it before this.
pub fn server_bin(name: &str) -> PathBuf {
    tenure_testkit::built(name).unwrap_or_else(|e| panic!("the `{name}` binary: {e}"))
}

/// Renewals every second, leases of two: short tests of long rules.
pub const FAST: [&str; 4] = ["--renew-every", "1s", "--lease-ttl", "2s"];

/// A manager process on loopback; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    /// `bin serve` on `listen` (`127.0.0.1:0` for any port), waiting for its
    /// `tenured listening on URL` line.
    pub fn start(bin: &Path, fx: &Fixture, listen: &str, database: &str, extra: &[&str]) -> Server {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = fx.path(&format!("server-{n}.log"));
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", listen, "--database", database, "--migrate"])
            .arg("--license")
            .arg(fx.path("license.lic"))
            .arg("--vendor-key")
            .arg(fx.path("vendor.pub"))
            .arg("--admin-token-file")
            .arg(fx.path("admin.token"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn the manager");
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
        let server = Server { child, url, log };
        // The blocking client here speaks plain http only; a TLS server's
        // line comes once it listens.
        let plain = server.url.starts_with("http://");
        assert!(
            !plain || wait_until(Duration::from_secs(15), || server.ping() == Some(200)),
            "no answer to a ping: {}",
            server.log_text()
        );
        server
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the URL")
    }

    pub fn ping(&self) -> Option<u16> {
        http(&self.url, "GET", "/pingLicenseManager", None).map(|(s, _)| s)
    }

    pub fn admin(&self, method: &str, path: &str) -> (u16, String) {
        http(&self.url, method, path, Some(TOKEN)).expect("admin call")
    }

    /// How many grants the manager holds (its admin listing).
    pub fn held(&self) -> usize {
        let (status, body) = self.admin("GET", "/v1/grants");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<serde_json::Value>>(&body)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub use tenure_testkit::free_port;

/// A minimal blocking HTTP/1.1 client over plain http: enough for admin
/// calls in tests.
pub fn http(url: &str, method: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Whether process `pid` runs. A zombie still has a /proc entry; its state
/// letter says it is gone.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                .is_none_or(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// The pid a command wrote to `file`, once it has.
pub fn pid_in(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// A fresh PostgreSQL database, dropped with this value. Trials declare
/// `Need::Postgres`, so a failure to create it is a broken set-up.
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
        let name = format!("tenure_agent_{}_{n}", std::process::id());
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
