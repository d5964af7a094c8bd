//! HAProxy running `docs/ha/haproxy.cfg` itself (no copy), as a child
//! process, with addresses and check timings passed as environment
//! variables; its runtime API on a unix socket.

use super::{note, tail, wait_until, workspace_dir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Check timings the tests use (production values are in the config file).
pub const CHECK_INTER_MS: u64 = 500;
pub const CHECK_FALL: u64 = 2;
pub const CHECK_RISE: u64 = 2;

/// inter x fall: the longest a dead primary keeps receiving requests.
pub fn detection() -> Duration {
    Duration::from_millis(CHECK_INTER_MS * CHECK_FALL)
}

pub fn binary() -> Result<PathBuf, String> {
    for p in [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ] {
        if std::path::Path::new(p).is_file() {
            return Ok(p.into());
        }
    }
    Err("haproxy is not installed (.ci/setup-services.sh installs it)".into())
}

pub fn config_path() -> PathBuf {
    workspace_dir().join("docs/ha/haproxy.cfg")
}

/// The bytes of the health check `haproxy.cfg` makes HAProxy send: the
/// file runs with two listeners of the caller's as its servers, and the
/// first request on the primary's is returned.
pub fn check_request(bin: &PathBuf) -> Vec<u8> {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let (primary, secondary) = (bind(), bind());
    let addr = |l: &TcpListener| l.local_addr().expect("listener address");
    let lb = Haproxy::start(bin, addr(&primary), addr(&secondary));
    primary.set_nonblocking(true).expect("nonblocking");
    let mut got = Vec::new();
    let checked = wait_until(Duration::from_secs(10), || {
        let Ok((mut s, _)) = primary.accept() else {
            return false;
        };
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        true
    });
    assert!(checked, "HAProxy never checked the primary:\n{}", lb.log());
    got
}

#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub url: String,
    socket: PathBuf,
}

impl Haproxy {
    pub fn start(bin: &PathBuf, primary: SocketAddr, secondary: SocketAddr) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-haproxy-")
            .tempdir()
            .expect("temp dir");
        let socket = dir.path().join("admin.sock");
        let log = dir.path().join("haproxy.log");
        let port = super::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let child = Command::new(bin)
            .arg("-f")
            .arg(config_path())
            .arg("-db")
            .env("TENURE_LB_ADDR", addr.to_string())
            .env("TENURE_PRIMARY_ADDR", primary.to_string())
            .env("TENURE_SECONDARY_ADDR", secondary.to_string())
            .env("TENURE_CHECK_INTER", format!("{CHECK_INTER_MS}ms"))
            .env("TENURE_CHECK_FALL", CHECK_FALL.to_string())
            .env("TENURE_CHECK_RISE", CHECK_RISE.to_string())
            .env("TENURE_HAPROXY_SOCKET", &socket)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("haproxy.err")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run haproxy: {e}"));
        let mut me = Self {
            child,
            dir,
            addr,
            url: format!("http://{addr}"),
            socket,
        };
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(addr).is_ok() && me.socket.exists()
        });
        if !up {
            let status = me.child.try_wait();
            panic!("haproxy did not start ({status:?}):\n{}", me.log());
        }
        me
    }

    /// One runtime API command (`stats socket ... level admin`).
    pub fn command(&self, cmd: &str) -> String {
        let mut s = UnixStream::connect(&self.socket)
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.socket.display()));
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(format!("{cmd}\n").as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// `show stat` for `tenure/<server>`: the named column.
    pub fn stat(&self, server: &str, column: &str) -> Option<String> {
        let csv = self.command("show stat");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let col = header.iter().position(|h| *h == column)?;
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"tenure") && f.get(1) == Some(&server))
            .and_then(|f| f.get(col).map(|s| (*s).to_owned()))
    }

    /// `UP`, `DOWN`, `MAINT`, `UP 1/2`...
    pub fn status(&self, server: &str) -> String {
        self.stat(server, "status").unwrap_or_default()
    }

    pub fn wait_status(&self, server: &str, prefix: &str, limit: Duration) -> bool {
        wait_until(limit, || self.status(server).starts_with(prefix))
    }

    /// Requests HAProxy sent to a server so far.
    pub fn sessions(&self, server: &str) -> u64 {
        self.stat(server, "stot")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn set_state(&self, server: &str, state: &str) {
        let out = self.command(&format!("set server tenure/{server} state {state}"));
        assert!(
            out.trim().is_empty(),
            "set server tenure/{server} state {state}: {out}"
        );
    }

    pub fn log(&self) -> String {
        format!(
            "{}{}",
            tail(&self.dir.path().join("haproxy.log"), 4000),
            tail(&self.dir.path().join("haproxy.err"), 4000)
        )
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            note(&format!("---- haproxy log:\n{}\n----", self.log()));
        }
    }
}
