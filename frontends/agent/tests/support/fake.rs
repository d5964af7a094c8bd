//! A test double of the manager's component API (docs/protocol.md section 6): just
//! enough HTTP/1.1 over a std TcpListener, on threads of its own so that any
//! runtime can drive the agent against it, to grant, renew and release, with
//! a switch to make it fail the ways a real manager or network fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tenure_agent::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 503 `storage_unavailable` to everything.
    Unavailable,
    /// 403 `revoked` to renewals and grants.
    Revoked,
    /// 403 `servers_exceeded` to grants.
    Full,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub status: u16,
    pub at: Instant,
}

#[derive(Debug)]
struct Shared {
    mode: Mode,
    lease_ttl_s: u64,
    renew_every_s: u64,
    grace_period_s: u64,
    next_grant: u8,
    /// Seconds in the `Retry-After` of every 503, as the real manager sends.
    retry_after_s: u32,
    /// With a token, every request without `Bearer <token>` is 401 (M10).
    token: Option<String>,
    seen: Vec<Seen>,
}

/// The accepting thread and the flag that ends it (closing the socket).
#[derive(Debug)]
struct Acceptor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

#[derive(Debug)]
pub struct FakeManager {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    accept: Mutex<Option<Acceptor>>,
}

impl FakeManager {
    pub fn start(lease_ttl_s: u64, renew_every_s: u64, grace_period_s: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Mutex::new(Shared {
            mode: Mode::Ok,
            lease_ttl_s,
            renew_every_s,
            grace_period_s,
            next_grant: 1,
            retry_after_s: 1,
            token: None,
            seen: Vec::new(),
        }));
        let accept = serve(listener, shared.clone());
        Self {
            addr,
            shared,
            accept: Mutex::new(Some(accept)),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().expect("lock").mode = mode;
    }

    /// Requires `Authorization: Bearer <token>` from now on (M10).
    pub fn require_token(&self, token: Option<&str>) {
        self.shared.lock().expect("lock").token = token.map(str::to_owned);
    }

    pub fn set_retry_after(&self, seconds: u32) {
        self.shared.lock().expect("lock").retry_after_s = seconds;
    }

    /// Closes the listening socket: connections are refused until `come_back`.
    pub fn go_down(&self) {
        if let Some(acceptor) = self.accept.lock().expect("lock").take() {
            acceptor.stop.store(true, Ordering::Relaxed);
            let _ = acceptor.thread.join();
        }
    }

    pub fn come_back(&self) {
        let listener = TcpListener::bind(self.addr).expect("rebind");
        *self.accept.lock().expect("lock") = Some(serve(listener, self.shared.clone()));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().expect("lock").seen.clone()
    }

    /// How many requests matched `method` and a path ending in `suffix`
    /// (`"/v1/grants"` for grants, `"/renew"` for renewals).
    pub fn count(&self, method: &str, suffix: &str, status: u16) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix) && s.status == status)
            .count()
    }

    pub fn releases(&self) -> usize {
        self.count("DELETE", "", 204)
    }

    /// Polls until `check` holds, for at most `limit`, sleeping on `rt`.
    pub async fn wait_until(
        &self,
        rt: &dyn Runtime,
        limit: Duration,
        check: impl Fn(&Self) -> bool,
    ) -> bool {
        let end = rt.now() + limit;
        while rt.now() < end {
            if check(self) {
                return true;
            }
            rt.sleep_until(rt.now() + Duration::from_millis(50)).await;
        }
        check(self)
    }
}

impl Drop for FakeManager {
    fn drop(&mut self) {
        self.go_down();
    }
}

fn serve(listener: TcpListener, shared: Arc<Mutex<Shared>>) -> Acceptor {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    listener.set_nonblocking(true).expect("nonblocking");
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        let _ = handle(stream, &shared);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Acceptor { stop, thread }
}

fn handle(mut stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let authorization = header("authorization");
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let (status, answer) = respond(shared, &method, &path, &body, authorization);
    let retry_after_s = shared.lock().expect("lock").retry_after_s;
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    if status != 204 {
        out.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            answer.len()
        ));
    }
    if status == 503 {
        out.push_str(&format!("Retry-After: {retry_after_s}\r\n"));
    }
    out.push_str("\r\n");
    if status != 204 {
        out.push_str(&answer);
    }
    stream.write_all(out.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)
}

fn respond(
    shared: &Mutex<Shared>,
    method: &str,
    path: &str,
    body: &str,
    authorization: Option<String>,
) -> (u16, String) {
    let mut s = shared.lock().expect("lock");
    let error = |status: u16, code: &str| {
        (
            status,
            format!(r#"{{"error":"{code}","message":"fake manager says {code}"}}"#),
        )
    };
    let grant = |s: &Shared, id: String| {
        format!(
            r#"{{"grant_id":"{id}","lease_ttl_s":{},"renew_every_s":{},"grace_period_s":{},"server_time_ms":0,"license_id":"TEST-1","license_expires_in_s":86400}}"#,
            s.lease_ttl_s, s.renew_every_s, s.grace_period_s
        )
    };
    let renew_id = path
        .strip_prefix("/v1/grants/")
        .and_then(|rest| rest.strip_suffix("/renew"))
        .map(str::to_owned);
    let authorized = s
        .token
        .as_ref()
        .is_none_or(|t| authorization.as_deref() == Some(&format!("Bearer {t}")));
    let (status, answer) = match (s.mode, method, path) {
        _ if !authorized => error(401, "unauthorized"),
        (Mode::Unavailable, _, _) => error(503, "storage_unavailable"),
        (_, "DELETE", p) if p.starts_with("/v1/grants/") => (204, String::new()),
        (Mode::Revoked, "POST", _) => error(403, "revoked"),
        (Mode::Full, "POST", "/v1/grants") => error(403, "servers_exceeded"),
        (_, "POST", "/v1/grants") => {
            let id = format!("{:032x}", s.next_grant);
            s.next_grant = s.next_grant.wrapping_add(1);
            (201, grant(&s, id))
        }
        (_, "POST", _) if renew_id.is_some() => (200, grant(&s, renew_id.unwrap_or_default())),
        _ => error(404, "not_found"),
    };
    s.seen.push(Seen {
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.to_owned(),
        authorization,
        status,
        at: Instant::now(),
    });
    (status, answer)
}
