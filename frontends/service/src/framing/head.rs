//! One request head: parsed with httparse (the parser hyper and async-h1
//! use), then held to section 6.1 and RFC 9112 section 6: a head whose
//! framing is ambiguous, or whose `Host` is not `host[:port]`, is refused.

use super::{MAX_HEAD_BYTES, MAX_HEADERS, target};
use crate::http::{Method, Response};
use tenure_core::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// How the version is written on a request or status line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
        }
    }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    Empty,
    Length(u64),
    Chunked,
}

/// What the service needs of an accepted head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub version: Version,
    pub method: Method,
    /// Whether the method is exactly `HEAD` (its answer carries no body).
    pub head_only: bool,
    /// The request target's path as sent (not decoded, not normalised).
    pub path: String,
    pub query: Option<String>,
    /// Whether the connection stays open after the answer: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// The first `Content-Type` and `Authorization` values, when they are
    /// visible ASCII (as hyper's `HeaderValue::to_str` requires).
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// Every `Cookie` line joined with `; ` (RFC 6265 section 5.4), and the
    /// first `Sec-Fetch-Site`: what the console's session and forgery
    /// checks read.
    pub cookie: Option<String>,
    pub fetch_site: Option<String>,
    /// The first `Accept`: a usage report answers CSV to `text/csv`.
    pub accept: Option<String>,
    pub body: Body,
    /// HTTP/1.1 with `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// Why a head is refused, answered as a section 6 JSON error and a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: u16,
    message: String,
    version: Version,
}

impl Refusal {
    fn bad(version: Version, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            version,
        }
    }

    fn too_large(message: &str) -> Self {
        Self {
            status: 431,
            message: message.to_owned(),
            version: Version::Http11,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The version of the refused request when it could be read (an
    /// HTTP/1.0 client is answered in HTTP/1.0), else HTTP/1.1.
    pub fn version(&self) -> Version {
        self.version
    }

    /// 400 (431 for a head too large) with a `bad_request` JSON body.
    pub fn response(&self) -> Response {
        let mut r = Response::error(ErrorCode::BadRequest, self.message.clone());
        r.status = self.status;
        r
    }
}

/// The outcome of reading the start of a buffer as a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole head yet, and nothing wrong so far.
    Partial,
    /// A head of `len` bytes that passes.
    Done {
        head: Box<Head>,
        len: usize,
    },
    Refused(Refusal),
}

/// Reads the head at the start of `buf` (which may hold more after it).
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            Parsed::Refused(Refusal::too_large("request head too large"))
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD_BYTES => {
            Parsed::Refused(Refusal::too_large("request head too large"))
        }
        Ok(httparse::Status::Complete(len)) => match check(&req) {
            Ok(head) => Parsed::Done {
                head: Box::new(head),
                len,
            },
            Err(r) => Parsed::Refused(r),
        },
        Err(httparse::Error::TooManyHeaders) => {
            Parsed::Refused(Refusal::too_large("too many header fields"))
        }
        Err(e) => Parsed::Refused(Refusal::bad(
            Version::Http11,
            format!("malformed request head: {e}"),
        )),
    }
}

/// The comma-separated elements of header values, trimmed, empty ones
/// dropped (RFC 9110 section 5.6.1).
fn elements<'a>(values: &[&'a [u8]]) -> Option<Vec<&'a str>> {
    let mut out = Vec::new();
    for v in values {
        let s = std::str::from_utf8(v).ok()?;
        out.extend(s.split(',').map(str::trim).filter(|e| !e.is_empty()));
    }
    Some(out)
}

/// A value hyper would hand the service (`HeaderValue::to_str`).
fn visible(v: &[u8]) -> Option<String> {
    v.iter()
        .all(|b| *b == b'\t' || (0x20..0x7f).contains(b))
        .then(|| String::from_utf8_lossy(v).into_owned())
}

fn check(req: &httparse::Request<'_, '_>) -> Result<Head, Refusal> {
    let version = match req.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let bad = |m: &str| Refusal::bad(version, m);
    let raw_method = req.method.unwrap_or_default();
    let (path, query) = target::parse(req.path.unwrap_or_default(), raw_method).map_err(bad)?;
    let named = |name: &str| -> Vec<&[u8]> {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    };
    let body = framing(
        version,
        &named("transfer-encoding"),
        &named("content-length"),
    )?;

    let hosts = named("host");
    match hosts.as_slice() {
        [] if version == Version::Http11 => return Err(bad("HTTP/1.1 needs a Host header")),
        [] => {}
        [one] => {
            let ok = one.is_empty() || std::str::from_utf8(one).is_ok_and(target::host_port);
            if !ok {
                return Err(bad("the Host header is not host[:port]"));
            }
        }
        _ => return Err(bad("more than one Host header")),
    }

    // Hyper's reading: any `close` wins; HTTP/1.0 keeps the connection only
    // when asked. A value that is not text counts for nothing.
    let tokens: Vec<String> = named("connection")
        .iter()
        .filter_map(|v| visible(v))
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let says = |t: &str| tokens.iter().any(|x| x == t);
    let keep_alive = !says("close") && (version == Version::Http11 || says("keep-alive"));

    let first = |name: &str| named(name).first().and_then(|v| visible(v));
    let expect_continue = version == Version::Http11
        && named("expect")
            .last()
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    Ok(Head {
        version,
        method: Method::parse(raw_method),
        head_only: raw_method == "HEAD",
        path,
        query,
        keep_alive,
        content_type: first("content-type"),
        authorization: first("authorization"),
        cookie: {
            let all: Vec<String> = named("cookie").iter().filter_map(|v| visible(v)).collect();
            (!all.is_empty()).then(|| all.join("; "))
        },
        fetch_site: first("sec-fetch-site"),
        accept: first("accept"),
        body,
        expect_continue,
    })
}

/// The body framing of RFC 9112 section 6, refusing every ambiguity: only
/// `chunked` alone as a transfer coding (we decode no other), never with
/// `Content-Length` nor in HTTP/1.0, and `Content-Length` lines that are
/// each one number and agree (identical duplicates are accepted, as RFC
/// 9110 section 8.6 allows and hyper does).
fn framing(version: Version, te: &[&[u8]], cl: &[&[u8]]) -> Result<Body, Refusal> {
    let bad = |m: &str| Refusal::bad(version, m);
    if !te.is_empty() {
        if version == Version::Http10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !cl.is_empty() {
            return Err(bad("Transfer-Encoding together with Content-Length"));
        }
        let codings = elements(te).unwrap_or_default();
        return match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case("chunked") => Ok(Body::Chunked),
            [.., last] if last.eq_ignore_ascii_case("chunked") => {
                Err(bad("a transfer coding other than chunked is not supported"))
            }
            _ => Err(bad("the last transfer coding is not chunked")),
        };
    }
    let mut length = None;
    for v in cl {
        let n = std::str::from_utf8(v)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("Content-Length is not one decimal number"))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("Content-Length values differ"));
        }
        length = Some(n);
    }
    Ok(match length {
        None => Body::Empty,
        Some(n) => Body::Length(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        match parse(raw.as_bytes()) {
            Parsed::Done { head, len } => {
                assert_eq!(len, raw.len());
                *head
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn refused(raw: &str) -> Refusal {
        match parse(raw.as_bytes()) {
            Parsed::Refused(r) => r,
            other => panic!("{raw:?} should be refused: {other:?}"),
        }
    }

    #[test]
    fn http10_without_host_is_served_and_closes() {
        let h = head("GET /pingLicenseManager HTTP/1.0\r\n\r\n");
        assert_eq!(h.version, Version::Http10);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.path, "/pingLicenseManager");
        assert!(!h.keep_alive);
        assert_eq!(h.body, Body::Empty);
        let h = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
        assert!(!h.keep_alive);
    }

    #[test]
    fn http11_keeps_alive_unless_closed() {
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let post = "POST /v1/grants HTTP/1.1\r\nHost: a\r\n";
        for extra in [
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding:\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Content-Length: 2\r\nContent-Length: 3\r\n",
            "Content-Length: 2, 2\r\n",
            "Content-Length: -2\r\n",
            "Content-Length: +2\r\n",
            "Content-Length: 99999999999999999999999\r\n",
            "Content-Length:\r\n",
        ] {
            let r = refused(&format!("{post}{extra}\r\n"));
            assert_eq!(r.status(), 400, "{extra:?}");
        }
        let r = refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(r.version(), Version::Http10);
    }

    #[test]
    fn accepted_framing() {
        let post = "POST /v1/grants HTTP/1.1\r\nHost: a\r\n";
        let h = head(&format!("{post}Transfer-Encoding: Chunked\r\n\r\n"));
        assert_eq!(h.body, Body::Chunked);
        let h = head(&format!(
            "{post}Content-Length: 2\r\ncontent-length: 2\r\n\r\n"
        ));
        assert_eq!(h.body, Body::Length(2));
        let h = head("POST /v1/grants HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.body, Body::Length(0));
    }

    #[test]
    fn host_must_be_host_port() {
        for host in [
            "Host: a/b\r\n",
            "Host: a?b\r\n",
            "Host: a b\r\n",
            "Host: a\r\nHost: a\r\n",
        ] {
            refused(&format!("GET /pingLicenseManager HTTP/1.1\r\n{host}\r\n"));
        }
        refused("GET /pingLicenseManager HTTP/1.1\r\n\r\n");
        refused("GET /pingLicenseManager HTTP/1.0\r\nHost: a/b\r\n\r\n");
        head("GET /pingLicenseManager HTTP/1.1\r\nHost:\r\n\r\n");
        head("GET /pingLicenseManager HTTP/1.1\r\nHost: [::1]:10091\r\n\r\n");
    }

    #[test]
    fn headers_the_service_reads() {
        let h = head(
            "PUT /v1/license HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n\
             Content-Type: application/json\r\nAuthorization: Bearer x\r\n\
             Expect: 100-Continue\r\n\r\n",
        );
        assert_eq!(h.method, Method::Put);
        assert_eq!(h.content_type.as_deref(), Some("text/plain"));
        assert_eq!(h.authorization.as_deref(), Some("Bearer x"));
        assert!(h.expect_continue);
        let raw = b"FOO /x HTTP/1.1\r\nHost: a\r\nAuthorization: \xffx\r\n\r\n";
        let Parsed::Done { head: h, .. } = parse(raw) else {
            panic!("obs-text in a value is read")
        };
        assert_eq!(h.method, Method::Other);
        assert_eq!(h.authorization, None);
    }

    #[test]
    fn partial_malformed_and_too_large() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHo"), Parsed::Partial);
        assert_eq!(refused("\x16\x03\x01\x00").status(), 400);
        assert_eq!(refused("GET / HTTP/2.0\r\n\r\n").status(), 400);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nBad Header\r\n\r\n").status(),
            400
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(refused(&big).status(), 431);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            refused(&format!("GET / HTTP/1.1\r\n{many}\r\n")).status(),
            431
        );
        let r = refused("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n").response();
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["error"], "bad_request");
    }
}
