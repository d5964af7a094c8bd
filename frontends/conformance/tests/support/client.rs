//! A deliberately small HTTP/1.1 client: one request per connection
//! (`Connection: close`), every byte under the test's control.

use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Response {
    /// `HTTP/1.0` or `HTTP/1.1`, from the status line.
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, after checking the content type says so.
    pub fn json(&self) -> Value {
        assert!(
            self.content_type()
                .to_ascii_lowercase()
                .starts_with("application/json"),
            "status {}: content type {:?} is not application/json; body {:?}",
            self.status,
            self.content_type(),
            self.text()
        );
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    pub fn describe(&self) -> String {
        format!("{} {:?} {}", self.status, self.content_type(), self.text())
    }
}

/// Asserts an error response: status, `application/json`, and a body
/// `{"error": code, "message": non-empty text}`.
pub fn assert_error(resp: &Response, status: u16, code: &str) {
    assert_eq!(
        resp.status,
        status,
        "expected {status} {code}, got {}",
        resp.describe()
    );
    let v = resp.json();
    assert_eq!(
        v.get("error").and_then(Value::as_str),
        Some(code),
        "error code in {v}"
    );
    let message = v.get("message").and_then(Value::as_str);
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "error body needs a non-empty `message`: {v}"
    );
    if status == 503 {
        assert_retry_after(resp);
    }
}

/// Every 503 carries `Retry-After` in seconds.
pub fn assert_retry_after(resp: &Response) {
    let ra = resp.header("retry-after");
    assert!(
        ra.is_some_and(|v| v.trim().parse::<u64>().is_ok()),
        "503 without a Retry-After in seconds: {:?}; {}",
        resp.headers,
        resp.describe()
    );
}

/// The list in an admin answer: the body itself when it is an array, else the
/// first array-valued field among `keys` (then any array field).
pub fn json_array<'a>(v: &'a Value, keys: &[&str]) -> &'a Vec<Value> {
    if let Some(a) = v.as_array() {
        return a;
    }
    for k in keys {
        if let Some(a) = v.get(*k).and_then(Value::as_array) {
            return a;
        }
    }
    v.as_object()
        .and_then(|o| o.values().find_map(Value::as_array))
        .unwrap_or_else(|| panic!("no list in {v}"))
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// One request. `body` is sent with a `Content-Length` unless a
/// `Transfer-Encoding` header is given, in which case it is sent as is.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request<'_> {
    pub fn to_bytes(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
            self.method, self.path
        );
        let chunked = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if let (Some(b), false) = (&self.body, chunked) {
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(b) = &self.body {
            out.extend_from_slice(b);
        }
        out
    }
}

impl Target {
    pub fn send(&self, req: &Request<'_>) -> io::Result<Response> {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let host = format!("localhost:{}", self.addr.port());
        let bytes = req.to_bytes(&host);
        let head = req.method.eq_ignore_ascii_case("HEAD");
        match &self.tls {
            None => exchange(stream, &bytes, head),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(|e| io::Error::other(e.to_string()))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                exchange(rustls::StreamOwned::new(conn, stream), &bytes, head)
            }
        }
    }
}

/// Writes a request and reads one response. A write error is tolerated when a
/// response can still be read: a server may answer (413) before the whole body.
pub fn exchange<S: Read + Write>(mut s: S, bytes: &[u8], head: bool) -> io::Result<Response> {
    let wrote = s.write_all(bytes).and_then(|()| s.flush());
    let read = read_response(&mut s, head);
    match (wrote, read) {
        (_, Ok(r)) => Ok(r),
        (Err(w), Err(_)) => Err(w),
        (Ok(()), Err(r)) => Err(r),
    }
}

pub fn read_response<S: Read>(s: S, head: bool) -> io::Result<Response> {
    read_one(&mut BufReader::new(s), head)
}

/// One response from `r`, which may hold the next ones (pipelined answers).
pub fn read_one<R: BufRead>(r: &mut R, head: bool) -> io::Result<Response> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_owned();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("not an HTTP response: {line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the response head".into()));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header line {l:?}")))?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        // no body
    } else if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // trailers until the blank line
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("bad content-length {len:?}")))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        // Until the server closes; a TLS peer that skips close_notify is fine here.
        match r.read_to_end(&mut body) {
            Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => return Err(e),
            _ => {}
        }
    }
    Ok(Response {
        version,
        status,
        headers,
        body,
    })
}
