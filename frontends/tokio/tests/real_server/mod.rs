//! A real `tenured` on loopback for the binary's own tests: temp dir, dev key,
//! a short-grace license, admin token, embedded SQLite.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::names::Name;

pub const TOKEN: &str = "end-to-end-admin-token-0123456789";

pub struct Setup {
    pub dir: tempfile::TempDir,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Setup {
    /// Key, token and a license for production/vdp with `max_servers`.
    pub fn new(grace_s: u64, max_servers: u64) -> Setup {
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
            license_id: "e2e".into(),
            licensee: "E2E".into(),
            issued_at: UnixMillis(now),
            not_before: UnixMillis(now - 86_400_000),
            not_after: UnixMillis(now + 86_400_000),
            max_managers: 2,
            grace_period_s: grace_s,
            limits,
            extra: BTreeMap::new(),
        };
        std::fs::write(
            dir.path().join("vendor.pub"),
            key.verifying_key().to_armoured(),
        )
        .expect("pub");
        std::fs::write(
            dir.path().join("license.lic"),
            sign(&lic, &key).expect("sign"),
        )
        .expect("lic");
        std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).expect("token");
        // `serve` refuses a token file open to others (§7.1).
        std::fs::set_permissions(
            dir.path().join("admin.token"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod token");
        Setup { dir }
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
}

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// `tenured serve` on 127.0.0.1:`port`; 0 for any free port, which is
    /// free of the race of picking one first.
    pub fn start(setup: &Setup, port: u16, extra: &[&str]) -> Server {
        let bin = env!("CARGO_BIN_EXE_tenured");
        let log = std::fs::File::create(setup.path(&format!("tenured-{port}-{}.log", now_ms())))
            .expect("log");
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--database",
                &format!("sqlite://{}", setup.path("tenure.db").display()),
            ])
            .arg("--license")
            .arg(setup.path("license.lic"))
            .arg("--vendor-key")
            .arg(setup.path("vendor.pub"))
            .arg("--admin-token-file")
            .arg(setup.path("admin.token"))
            .args([
                "--node-id",
                "e2e",
                "--renew-every",
                "1s",
                "--lease-ttl",
                "2s",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn tenured");
        let stdout = child.stdout.take().expect("stdout");
        // Port 0 binds any free port: the server's line says which.
        let addr = tenure_testkit::listening_addr(stdout, Duration::from_secs(30), |_| {})
            .unwrap_or_else(|e| panic!("tenured on 127.0.0.1:{port}: {e}"));
        let url = format!("http://{addr}");
        let server = Server { child, url };
        wait_until(Duration::from_secs(15), || server.ping() == Some(200));
        server
    }

    pub fn ping(&self) -> Option<u16> {
        http(&self.url, "GET", "/pingLicenseManager", None, None).map(|(s, _)| s)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn admin(&self, method: &str, path: &str) -> (u16, String) {
        http(&self.url, method, path, Some(TOKEN), None).expect("admin call")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal blocking HTTP/1.1 client: enough for admin calls in tests.
pub fn http(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
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
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            use std::os::unix::process::ExitStatusExt;
            return status.code().or_else(|| status.signal().map(|s| 128 + s));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
