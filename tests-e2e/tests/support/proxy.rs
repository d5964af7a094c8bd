//! An HTTP proxy between agents and a manager that, at the test's word,
//! answers every request itself the way a corporate proxy, a WAF or a captive
//! portal does (an HTML page with 403, 401, 429 or 502), or as a manager with
//! a fault of its own does (500 `internal`), instead of passing it on. One
//! request per connection, each answered with `Connection: close`, so a
//! switch of mode applies to the very next request. Loopback only.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Forward,
    /// Answer it with this status and an HTML page, never reaching the manager.
    Html(u16),
    /// Answer it as a manager with a fault of its own does: 500 with the
    /// JSON body `{"error":"internal"}` (docs/protocol.md, section 6).
    ManagerFault,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    answer: Mutex<Answer>,
    stop: AtomicBool,
    forwarded: AtomicU64,
    answered: AtomicU64,
}

#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub url: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Forwards to `upstream` until told otherwise.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy on loopback");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            answer: Mutex::new(Answer::Forward),
            stop: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            answered: AtomicU64::new(0),
        });
        let for_loop = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if for_loop.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = for_loop.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        Self {
            addr,
            url: format!("http://{addr}"),
            shared,
            accept: Some(accept),
        }
    }

    pub fn set(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap_or_else(|e| e.into_inner()) = answer;
    }

    /// Requests the proxy answered itself so far.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Requests passed on to the manager so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut client: TcpStream, shared: &Shared) -> io::Result<()> {
    let timeout = Some(Duration::from_secs(10));
    client.set_read_timeout(timeout)?;
    client.set_write_timeout(timeout)?;
    let request = read_request(&mut client)?;
    let answer = *shared.answer.lock().unwrap_or_else(|e| e.into_inner());
    let reply = match answer {
        Answer::Html(status) => {
            shared.answered.fetch_add(1, Ordering::SeqCst);
            html(status)
        }
        Answer::ManagerFault => {
            shared.answered.fetch_add(1, Ordering::SeqCst);
            manager_fault()
        }
        Answer::Forward => match forward(shared.upstream, &request) {
            Ok(reply) => {
                shared.forwarded.fetch_add(1, Ordering::SeqCst);
                reply
            }
            Err(_) => html(502),
        },
    };
    client.write_all(&reply)?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// One request: its head, and a body of `Content-Length` bytes.
fn read_request(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("request head over 64 KiB"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    if header(&head, "transfer-encoding").is_some() {
        return Err(io::Error::other("chunked requests are not proxied"));
    }
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.truncate(head_end + len);
    Ok(with_close(&buf))
}

/// The message with its connection headers replaced by `Connection: close`.
fn with_close(message: &[u8]) -> Vec<u8> {
    let Some(end) = find_head_end(message) else {
        return message.to_vec();
    };
    let head = String::from_utf8_lossy(&message[..end - 4]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if ["connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&message[end..]);
    bytes
}

fn forward(upstream: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&upstream, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    if find_head_end(&reply).is_none() {
        return Err(io::Error::other("no answer from the manager"));
    }
    Ok(with_close(&reply))
}

/// What a proxy or WAF sends: an HTML page, never a Tenure error body (A4).
pub fn html(status: u16) -> Vec<u8> {
    let (reason, extra) = match status {
        401 => (
            "Unauthorized",
            "WWW-Authenticate: Basic realm=\"corporate proxy\"\r\n",
        ),
        403 => ("Forbidden", ""),
        407 => (
            "Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"corporate proxy\"\r\n",
        ),
        429 => ("Too Many Requests", ""),
        502 => ("Bad Gateway", ""),
        503 => ("Service Unavailable", ""),
        _ => ("Error", ""),
    };
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n<body><h1>{status} {reason}</h1>\n<p>The request was blocked by the network's security policy.</p>\n<hr><address>corporate-proxy</address></body></html>\n"
    );
    let head = format!(
        "{status} {reason}\r\nServer: corporate-proxy\r\nContent-Type: text/html; charset=utf-8\r\n{extra}"
    );
    answer(&head, &body)
}

/// A manager's answer to a fault in itself, as the protocol writes it: not
/// a proxy's page, and still nothing that decides (A4).
pub fn manager_fault() -> Vec<u8> {
    answer(
        "500 Internal Server Error\r\nContent-Type: application/json\r\n",
        r#"{"error":"internal"}"#,
    )
}

/// One HTTP/1.1 answer that closes its connection: `head` is the status
/// line after the version and the headers before `Content-Length`.
fn answer(head: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
