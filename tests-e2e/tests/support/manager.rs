//! One `tenured serve` (or `tenured-smol serve`) process on a fixed loopback
//! port, so that it can be restarted where the load balancer expects it.

use super::http::{Response, request};
use super::license::{Setup, TOKEN};
use super::{note, tail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Renewal timing every case uses: renew every second, lease three seconds.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
pub const LEASE_TTL: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct Launch {
    pub bin: PathBuf,
    pub database: String,
    pub node_id: String,
    pub port: u16,
    /// Extra environment, e.g. libfaketime.
    pub env: Vec<(String, String)>,
    /// Extra flags of `serve`, e.g. `--sweep-every 1s`.
    pub args: Vec<String>,
}

impl Launch {
    pub fn new(bin: &Path, database: &str, node_id: &str, port: u16) -> Self {
        Self {
            bin: bin.to_path_buf(),
            database: database.into(),
            node_id: node_id.into(),
            port,
            env: Vec::new(),
            args: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct Manager {
    child: Child,
    pub launch: Launch,
    pub addr: SocketAddr,
    pub url: String,
    log: PathBuf,
}

impl Manager {
    /// Starts it and waits for `... listening on URL` (20 s at most).
    pub fn start(setup: &Setup, launch: &Launch) -> Self {
        let log = setup.path(&format!(
            "{}-{}.log",
            launch.node_id,
            super::license::now_ms()
        ));
        let stderr = std::fs::File::create(&log).expect("manager log");
        let mut cmd = Command::new(&launch.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TENURE_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", launch.port)])
            .args(["--database", &launch.database])
            .arg("--license")
            .arg(setup.path("license.lic"))
            .arg("--vendor-key")
            .arg(setup.path("vendor.pub"))
            .arg("--admin-token-file")
            .arg(setup.path("admin.token"))
            .args(["--node-id", &launch.node_id])
            .args(["--renew-every", "1s", "--lease-ttl", "3s"])
            .args(["--drain-timeout", "5s"])
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", launch.bin.display()));
        let stdout = child.stdout.take().expect("stdout piped");
        let url = match tenure_testkit::listening_url(stdout, Duration::from_secs(20), |_| {}) {
            Ok(url) => url,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "{} ({}) did not print `listening on URL` ({e}, {status:?}):\n{}",
                    launch.node_id,
                    launch.bin.display(),
                    tail(&log, 8000)
                );
            }
        };
        let addr: SocketAddr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("listening URL {url:?} is not http://IP:PORT"));
        assert_eq!(addr.port(), launch.port, "listening on another port");
        Self {
            child,
            launch: launch.clone(),
            addr,
            url,
            log,
        }
    }

    pub fn node_id(&self) -> &str {
        &self.launch.node_id
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Response, String> {
        request(self.addr, method, path, None, body)
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        request(self.addr, method, path, Some(TOKEN), body)
            .unwrap_or_else(|e| panic!("admin {method} {path} on {}: {e}", self.node_id()))
    }

    /// `/pingLicenseManager` status, `None` when it does not answer.
    pub fn ping(&self) -> Option<u16> {
        self.call("GET", "/pingLicenseManager", None)
            .ok()
            .map(|r| r.status)
    }

    pub fn wait_ping(&self, want: u16, limit: Duration) -> bool {
        super::wait_until(limit, || self.ping() == Some(want))
    }

    pub fn health(&self) -> serde_json::Value {
        self.call("GET", "/v1/health", None)
            .map(|r| r.json())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Held grants (admin `GET /v1/grants`).
    pub fn grants(&self) -> Vec<serde_json::Value> {
        let r = self.admin("GET", "/v1/grants", None);
        assert_eq!(r.status, 200, "GET /v1/grants: {}", r.body);
        match r.json() {
            serde_json::Value::Array(v) => v,
            other => panic!("GET /v1/grants is not an array: {other}"),
        }
    }

    /// The held grant of instance `hostname`, if any.
    pub fn grant_of(&self, hostname: &str) -> Option<serde_json::Value> {
        self.grants()
            .into_iter()
            .find(|g| g["hostname"].as_str() == Some(hostname))
    }

    /// Admin `GET /v1/status`.
    pub fn status(&self) -> serde_json::Value {
        let r = self.admin("GET", "/v1/status", None);
        assert_eq!(r.status, 200, "GET /v1/status: {}", r.body);
        r.json()
    }

    /// Every usage-history row (M8).
    pub fn usage(&self) -> Vec<serde_json::Value> {
        let r = self.admin("GET", "/v1/usage?since=1970-01-01T00:00:00Z", None);
        assert_eq!(r.status, 200, "GET /v1/usage: {}", r.body);
        match r.json() {
            serde_json::Value::Array(v) => v,
            other => panic!("GET /v1/usage is not an array: {other}"),
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (drain and deregister), then wait at most `limit` for the exit.
    pub fn sigterm(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log(&self) -> String {
        tail(&self.log, 8000)
    }

    /// Its whole log so far.
    pub fn full_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            note(&format!(
                "---- manager {} ({}) log:\n{}\n----",
                self.launch.node_id,
                self.launch.bin.display(),
                self.log()
            ));
        }
    }
}
