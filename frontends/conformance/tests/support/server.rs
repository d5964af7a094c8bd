//! Starting `tenured serve` in a fresh temp dir and killing it on drop.

use super::Bin;
use super::client::{Request, Response, Target};
use super::license::{Fixture, vendor_pub};
use super::tls::TlsFiles;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const START_TIMEOUT: Duration = Duration::from_secs(20);
pub const ADMIN_TOKEN: &str = "conformance-admin-token-5f2b9c1e7d3a4b6c";
/// The secrets of [`named_tokens`] (section 6.2).
pub const NAMED_ADMIN: &str = "conformance-named-admin-0a1b2c3d4e5f";
pub const NAMED_VIEWER: &str = "conformance-named-viewer-9f8e7d6c5b4a";

/// A token file of named tokens with roles (section 6.2).
pub fn named_tokens() -> String {
    format!("# NAME ROLE SECRET\nops admin {NAMED_ADMIN}\nwatch viewer {NAMED_VIEWER}\n")
}

/// How to start one server.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The armoured license written to `license.lic`.
    pub license: String,
    pub node_id: String,
    /// `--database`; `None` means `sqlite://DIR/tenure.db` in the server's own dir.
    pub database: Option<String>,
    pub listen: String,
    pub tls: Option<TlsFiles>,
    /// Further flags, e.g. `--header-read-timeout 2s`.
    pub args: Vec<String>,
    /// `TENURE_*` variables to set (every other one is removed).
    pub env: Vec<(String, String)>,
    /// A `--config` file's TOML text, written to `config.toml` and passed.
    pub config: Option<String>,
    /// The admin token file's mode (§7.1: not open to others).
    pub token_mode: u32,
    /// The admin token file's text; `None` is the one bare [`ADMIN_TOKEN`] line.
    pub tokens: Option<String>,
    /// The component token file's text (M10), written to `component.token`
    /// with `component_mode` and passed as `--component-token-file`.
    pub component_tokens: Option<String>,
    pub component_mode: u32,
}

impl Launch {
    pub fn new(fixture: &Fixture) -> Self {
        Self {
            license: fixture.armoured(),
            node_id: "conformance-a".into(),
            database: None,
            listen: "127.0.0.1:0".into(),
            tls: None,
            args: Vec::new(),
            env: Vec::new(),
            config: None,
            token_mode: 0o600,
            tokens: None,
            component_tokens: None,
            component_mode: 0o600,
        }
    }

    /// Grant, renew and release need one of these component tokens (M10).
    pub fn with_component_tokens(mut self, text: &str) -> Self {
        self.component_tokens = Some(text.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.into());
        self
    }

    /// The token file of [`named_tokens`]: an admin and a viewer token.
    pub fn with_named_tokens(mut self) -> Self {
        self.tokens = Some(named_tokens());
        self
    }

    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }
}

/// The files of a server's temp dir, and the command line that uses them.
struct Prepared {
    dir: tempfile::TempDir,
    command: Command,
    stderr_path: PathBuf,
}

fn prepare(bin: &Bin, launch: &Launch) -> Prepared {
    let dir = tempfile::Builder::new()
        .prefix("tenure-conformance-")
        .tempdir()
        .expect("temp dir");
    let p = dir.path();
    std::fs::write(p.join("license.lic"), &launch.license).expect("write license");
    std::fs::write(p.join("vendor.pub"), vendor_pub()).expect("write vendor key");
    let tokens = launch
        .tokens
        .clone()
        .unwrap_or_else(|| format!("{ADMIN_TOKEN}\n"));
    std::fs::write(p.join("admin.token"), tokens).expect("write token");
    // `serve` refuses a token file open to others (§7.1).
    std::fs::set_permissions(
        p.join("admin.token"),
        std::os::unix::fs::PermissionsExt::from_mode(launch.token_mode),
    )
    .expect("chmod token");
    let database = launch
        .database
        .clone()
        .unwrap_or_else(|| sqlite_url(&p.join("tenure.db")));
    migrate(bin, &database);
    let path_arg = |name: &str| p.join(name).to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        launch.listen.clone(),
        "--database".into(),
        database,
        "--license".into(),
        path_arg("license.lic"),
        "--vendor-key".into(),
        path_arg("vendor.pub"),
        "--admin-token-file".into(),
        path_arg("admin.token"),
        "--node-id".into(),
        launch.node_id.clone(),
    ];
    if let Some(text) = &launch.component_tokens {
        let file = p.join("component.token");
        std::fs::write(&file, text).expect("write component tokens");
        std::fs::set_permissions(
            &file,
            std::os::unix::fs::PermissionsExt::from_mode(launch.component_mode),
        )
        .expect("chmod component tokens");
        args.extend(["--component-token-file".into(), path_arg("component.token")]);
    }
    if let Some(tls) = &launch.tls {
        std::fs::write(p.join("cert.pem"), &tls.cert_pem).expect("write cert");
        std::fs::write(p.join("key.pem"), &tls.key_pem).expect("write key");
        args.extend([
            "--tls-cert".into(),
            path_arg("cert.pem"),
            "--tls-key".into(),
            path_arg("key.pem"),
        ]);
    }
    if let Some(toml) = &launch.config {
        std::fs::write(p.join("config.toml"), toml).expect("write config");
        args.extend(["--config".into(), path_arg("config.toml")]);
    }
    args.extend(launch.args.iter().cloned());
    let stderr_path = p.join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut command = command(bin);
    command
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    Prepared {
        dir,
        command,
        stderr_path,
    }
}

/// A command for `bin` without the caller's `TENURE_*` settings (every flag
/// also reads `TENURE_<FLAG>`).
fn command(bin: &Bin) -> Command {
    let mut command = Command::new(&bin.path);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TENURE_") {
            command.env_remove(k);
        }
    }
    command
}

/// `tenured migrate --database URL` (section 7) before serving: `serve` may
/// refuse a database whose schema is behind. Idempotent, so it also runs for
/// the second server on a shared database.
fn migrate(bin: &Bin, database: &str) {
    let mut child = command(bin)
        .args(["migrate", "--database", database])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} migrate: {e}", bin.path.display()));
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`tenured migrate --database {database}` still running after {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        status.success(),
        "`tenured migrate --database {database}` failed ({status:?}):\n{err}"
    );
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn read_tail(path: &Path, max: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    if s.len() > max {
        let mut cut = s.len() - max;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s = format!("...{}", &s[cut..]);
    }
    s
}

/// A request body: (content type, bytes).
pub type Body<'a> = Option<(&'a str, Vec<u8>)>;

/// A running server; SIGKILLed on drop. Its stderr is printed if the test fails.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    stderr_path: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    pub target: Target,
    pub node_id: String,
    pub url: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url).finish()
    }
}

impl Server {
    /// Starts the server and waits (20 s at most) for its `listening on` line.
    pub fn start(bin: &Bin, launch: Launch) -> Self {
        let tls = launch.tls.as_ref().map(|t| t.client_config());
        let mut prepared = prepare(bin, &launch);
        let mut child = prepared
            .command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.path.display()));
        let stdout_pipe = child.stdout.take().expect("stdout piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        let echo = move |line: &str| {
            if let Ok(mut v) = keep.lock() {
                v.push(line.to_owned());
            }
        };
        let url = match tenure_testkit::listening_url(stdout_pipe, START_TIMEOUT, echo) {
            Ok(url) => url,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "{} did not print `tenured listening on URL` ({e}; exit status {status:?});\nstdout: {:?}\nstderr:\n{}",
                    bin.path.display(),
                    lines.lock().map(|v| v.clone()).unwrap_or_default(),
                    read_tail(&prepared.stderr_path, 16_384)
                );
            }
        };
        let mut server = Self {
            child,
            dir: prepared.dir,
            stderr_path: prepared.stderr_path,
            stdout: lines,
            target: Target {
                addr: "127.0.0.1:1".parse().expect("addr"),
                tls,
            },
            node_id: launch.node_id.clone(),
            url: url.clone(),
        };
        let expected_scheme = if launch.tls.is_some() {
            "https://"
        } else {
            "http://"
        };
        let rest = url
            .strip_prefix(expected_scheme)
            .unwrap_or_else(|| panic!("listening URL {url:?} should start with {expected_scheme}"));
        let addr: SocketAddr = rest
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("listening URL {url:?} has no IP:PORT ({e})"));
        assert!(
            addr.ip().is_loopback() && addr.port() != 0,
            "server bound {addr}, not 127.0.0.1"
        );
        server.target.addr = addr;
        server
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn database_url(&self) -> String {
        sqlite_url(&self.dir().join("tenure.db"))
    }

    pub fn addr(&self) -> SocketAddr {
        self.target.addr
    }

    pub fn stderr(&self) -> String {
        read_tail(&self.stderr_path, 16_384)
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn send(&self, req: &Request<'_>) -> Response {
        self.target
            .send(req)
            .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path))
    }

    pub fn get(&self, path: &str) -> Response {
        self.send(&Request {
            method: "GET",
            path,
            ..Default::default()
        })
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send(&Request {
            method: "POST",
            path,
            headers: vec![("Content-Type", "application/json".into())],
            body: Some(body.to_string().into_bytes()),
        })
    }

    pub fn grant(&self, body: &Value) -> Response {
        self.post_json("/v1/grants", body)
    }

    pub fn renew(&self, grant_id: &str) -> Response {
        self.send(&Request {
            method: "POST",
            path: &format!("/v1/grants/{grant_id}/renew"),
            ..Default::default()
        })
    }

    pub fn release(&self, grant_id: &str) -> Response {
        self.send(&Request {
            method: "DELETE",
            path: &format!("/v1/grants/{grant_id}"),
            ..Default::default()
        })
    }

    /// An admin call with the right token; `body` is (content type, bytes).
    pub fn admin(&self, method: &str, path: &str, body: Body<'_>) -> Response {
        self.admin_with(Some(&format!("Bearer {ADMIN_TOKEN}")), method, path, body)
    }

    pub fn admin_with(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        body: Body<'_>,
    ) -> Response {
        let mut headers = Vec::new();
        if let Some(a) = authorization {
            headers.push(("Authorization", a.to_owned()));
        }
        let body = body.map(|(ct, b)| {
            headers.push(("Content-Type", ct.to_owned()));
            b
        });
        self.send(&Request {
            method,
            path,
            headers,
            body,
        })
    }
}

impl Server {
    /// A component call (grant, renew, release) with this `Authorization`.
    pub fn component(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        self.admin_with(
            authorization,
            method,
            path,
            body.map(|v| ("application/json", v.to_string().into_bytes())),
        )
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the server process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "cannot send SIG{name} to {pid}"
        );
    }

    /// A clean stop (SIGTERM): the manager drains and leaves the registry,
    /// so a process started next with the same node id serves at once (M6).
    /// Dropping a `Server` kills it instead, as a crash would.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "cannot send SIGTERM to {pid}"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{} did not stop within 30 s of SIGTERM", self.node_id);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- server {} ({}) stdout: {:?}\n---- stderr:\n{}\n----",
                self.node_id,
                self.url,
                self.stdout.lock().map(|v| v.clone()).unwrap_or_default(),
                self.stderr()
            );
        }
    }
}

/// How a server that was expected to refuse to start ended.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tenured serve` expecting it to exit by itself within 20 s; a server
/// that serves, or is still running then, is killed and the test fails.
pub fn run_to_exit(bin: &Bin, launch: Launch) -> Exited {
    try_run_to_exit(bin, launch).unwrap_or_else(|why| panic!("{why}"))
}

/// Like `run_to_exit`, but a server that prints its listening line is killed at
/// once and reported as `Err`.
pub fn try_run_to_exit(bin: &Bin, launch: Launch) -> Result<Exited, String> {
    let mut prepared = prepare(bin, &launch);
    let mut child = prepared
        .command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.path.display()));
    let stdout_pipe = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout_pipe).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut stdout = String::new();
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        while let Ok(line) = rx.try_recv() {
            if line.contains("listening on") {
                // It serves: stop it at once (it may be bound to a non-loopback address).
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the server should have refused to start but printed {line:?};\nstderr:\n{}",
                    read_tail(&prepared.stderr_path, 16_384)
                ));
            }
            stdout.push_str(&line);
            stdout.push('\n');
        }
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server should have refused to start but is still running after {START_TIMEOUT:?};\nstderr:\n{}",
                read_tail(&prepared.stderr_path, 16_384)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(line) = rx.try_recv() {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    Ok(Exited {
        status,
        stdout,
        stderr: read_tail(&prepared.stderr_path, 16_384),
    })
}
