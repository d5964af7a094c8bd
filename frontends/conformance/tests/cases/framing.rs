//! Section 6.1 on the wire: raw bytes written to a TCP socket, the answers
//! read back in order. Every case here runs unchanged against both binaries,
//! so the same bytes get the same statuses, and a connection that must close
//! does. Reading past the expected answers proves that nothing else was
//! answered: a request smuggled inside a body is never executed.

use super::{Expect, check_grant};
use crate::support::client::{IO_TIMEOUT, read_one};
use crate::support::{Bin, Fixture, Launch, Response, Server, assert_error, json_array};
use serde_json::{Value, json};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a connection that must stay open is watched for a close.
const STAYS_OPEN: Duration = Duration::from_millis(500);

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-framing-1");
    (Server::start(bin, Launch::new(&fixture)), fixture)
}

/// What came back for some raw bytes.
struct Exchange {
    answers: Vec<Response>,
    closed: bool,
    /// Still open: more requests may follow on it.
    stream: TcpStream,
}

/// Writes `bytes`, reads `n` answers, then watches whether the server
/// closes. Any byte after the `n` answers is a failure: an answer the
/// server should not have given.
fn exchange(server: &Server, bytes: &[u8], n: usize) -> Exchange {
    let stream = TcpStream::connect_timeout(&server.addr(), IO_TIMEOUT).expect("connect");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    go_on(stream, bytes, n)
}

fn go_on(mut stream: TcpStream, bytes: &[u8], n: usize) -> Exchange {
    let shown = String::from_utf8_lossy(bytes).into_owned();
    // A server may refuse and close before reading all of it.
    let _ = stream.write_all(bytes);
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let answers: Vec<Response> = (0..n)
        .map(|i| {
            read_one(&mut reader, false)
                .unwrap_or_else(|e| panic!("answer {} of {n} to {shown:?}: {e}", i + 1))
        })
        .collect();
    reader
        .get_ref()
        .set_read_timeout(Some(STAYS_OPEN))
        .expect("timeout");
    let mut extra = [0u8; 512];
    let closed = match reader.read(&mut extra) {
        Ok(0) => true,
        Ok(k) => panic!(
            "after {n} answer(s) to {shown:?} the server sent more: {:?}",
            String::from_utf8_lossy(&extra[..k])
        ),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    };
    Exchange {
        answers,
        closed,
        stream,
    }
}

/// One answer with `status`, and the connection closed or kept as said.
fn one(server: &Server, bytes: &[u8], status: u16, closes: bool) -> Response {
    let ex = exchange(server, bytes, 1);
    let shown = String::from_utf8_lossy(bytes);
    let r = ex.answers.into_iter().next().expect("one answer");
    assert_eq!(r.status, status, "{shown:?}: {}", r.describe());
    assert_eq!(ex.closed, closes, "{shown:?}: closed after the answer");
    r
}

/// A refusal of section 6.1: 400 `bad_request`, `Connection: close`, closed.
fn refused(server: &Server, bytes: &[u8]) {
    let r = one(server, bytes, 400, true);
    assert_error(&r, 400, "bad_request");
    assert!(
        r.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close")),
        "a refusal says Connection: close: {:?} for {:?}",
        r.headers,
        String::from_utf8_lossy(bytes)
    );
}

fn grant_request(version: &str, hostname: &str, framing: &str) -> Vec<u8> {
    let body = json!({"product": "open", "hostname": hostname, "port": 1, "cores": 1});
    let body = body.to_string();
    let framing = framing.replace("{len}", &body.len().to_string());
    format!(
        "POST /v1/grants {version}\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         {framing}\r\n{body}"
    )
    .into_bytes()
}

fn held_hostnames(server: &Server) -> Vec<String> {
    let resp = server.admin("GET", "/v1/grants", None);
    assert_eq!(resp.status, 200, "{}", resp.describe());
    json_array(&resp.json(), &["grants"])
        .iter()
        .filter_map(|g| g.get("hostname").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn assert_http10_framing(r: &Response) {
    assert_eq!(
        r.version, "HTTP/1.0",
        "an HTTP/1.0 request is answered in HTTP/1.0"
    );
    assert!(
        r.header("transfer-encoding").is_none() && r.header("content-length").is_some(),
        "an answer to HTTP/1.0 is framed by Content-Length: {:?}",
        r.headers
    );
}

/// HAProxy's plain `option httpchk GET /pingLicenseManager` and nginx's
/// default proxying send HTTP/1.0: served, closed unless keep-alive is asked.
pub fn http10_is_served(bin: &Bin) {
    let (server, fixture) = start(bin);
    // The exact bytes of HAProxy's default check.
    let r = one(
        &server,
        b"GET /pingLicenseManager HTTP/1.0\r\n\r\n",
        200,
        true,
    );
    assert_http10_framing(&r);
    assert_eq!(r.text(), "OK");

    let keep = b"GET /pingLicenseManager HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let ex = exchange(&server, keep, 1);
    assert!(!ex.closed, "HTTP/1.0 with keep-alive is kept open");
    let first = &ex.answers[0];
    assert_eq!(first.status, 200, "{}", first.describe());
    assert_http10_framing(first);
    assert!(
        first
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("keep-alive")),
        "a kept HTTP/1.0 connection is announced: {:?}",
        first.headers
    );
    // A second request on the same HTTP/1.0 connection, then one that closes.
    let ex = go_on(ex.stream, keep, 1);
    assert_eq!(ex.answers[0].status, 200);
    assert!(!ex.closed);
    let ex = go_on(ex.stream, b"GET /v1/health HTTP/1.0\r\n\r\n", 1);
    assert_eq!(ex.answers[0].status, 200, "{}", ex.answers[0].describe());
    assert!(ex.closed, "HTTP/1.0 without keep-alive closes");

    let post = grant_request(
        "HTTP/1.0",
        "http10.example.com",
        "Content-Length: {len}\r\n",
    );
    let ex = exchange(&server, &post, 1);
    assert!(ex.closed);
    assert_http10_framing(&ex.answers[0]);
    check_grant(&ex.answers[0], 201, Expect::defaults(fixture.id()));
    assert!(held_hostnames(&server).contains(&"http10.example.com".to_owned()));
}

/// RFC 9112 section 6 ambiguities and a `Host` that is not `host[:port]`.
pub fn ambiguous_framing_is_refused(bin: &Bin) {
    let (server, _) = start(bin);
    let post = |headers: &str, body: &str| {
        format!(
            "POST /v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             {headers}\r\n{body}"
        )
        .into_bytes()
    };
    let chunked = "2\r\n{}\r\n0\r\n\r\n";
    let cases = [
        post("Transfer-Encoding: gzip, chunked\r\n", chunked),
        post("Transfer-Encoding: gzip\r\n", "{}"),
        post("Transfer-Encoding: chunked, gzip\r\n", chunked),
        post(
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            chunked,
        ),
        post(
            "Transfer-Encoding: chunked\r\nContent-Length: 12\r\n",
            chunked,
        ),
        post(
            "Content-Length: 12\r\nTransfer-Encoding: chunked\r\n",
            chunked,
        ),
        post("Content-Length: 2\r\nContent-Length: 3\r\n", "{} "),
        post("Content-Length: 2, 2\r\n", "{}"),
        post("Content-Length: +2\r\n", "{}"),
        b"POST /v1/grants HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: a/b\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: a?b\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: a:99999\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.1\r\n\r\n".to_vec(),
        b"GET /pingLicenseManager HTTP/1.0\r\nHost: a/b\r\n\r\n".to_vec(),
        b"GET pingLicenseManager HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        b"GET http://a/b/pingLicenseManager#x HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
    ];
    for bytes in &cases {
        refused(&server, bytes);
    }
    assert_eq!(server.get("/pingLicenseManager").status, 200);
}

/// What is not ambiguous is served, and routed by the target's path alone.
pub fn unambiguous_requests_are_served(bin: &Bin) {
    let (server, fixture) = start(bin);
    let same = grant_request(
        "HTTP/1.1",
        "same-length.example.com",
        "Content-Length: {len}\r\nContent-Length: {len}\r\nConnection: close\r\n",
    );
    let ex = exchange(&server, &same, 1);
    check_grant(&ex.answers[0], 201, Expect::defaults(fixture.id()));

    let ping = |host: &str| format!("GET /pingLicenseManager HTTP/1.1\r\n{host}\r\n").into_bytes();
    for host in [
        "Host: localhost\r\n",
        "Host: lm1.example.com:10091\r\n",
        "Host: [::1]:10091\r\n",
        "Host:\r\n",
    ] {
        one(&server, &ping(host), 200, false);
    }
    // Absolute-form: its path is routed, its authority and Host are not.
    one(
        &server,
        b"GET http://elsewhere.example/pingLicenseManager HTTP/1.1\r\nHost: localhost\r\n\r\n",
        200,
        false,
    );
    // Dot segments are not removed: no endpoint has such a path.
    for path in [
        "/v1/grants/../license",
        "/v1/grants/../health",
        "/v1/./health",
    ] {
        let bytes = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let r = one(&server, bytes.as_bytes(), 404, false);
        assert_error(&r, 404, "not_found");
    }
    // A method no endpoint has is routed like any other: 405 with Allow.
    let r = one(
        &server,
        b"BREW /v1/license HTTP/1.1\r\nHost: localhost\r\n\r\n",
        405,
        false,
    );
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("PUT"));
    // A chunked body with an extension and a trailer.
    let body =
        json!({"product": "open", "hostname": "chunked-ext", "port": 1, "cores": 1}).to_string();
    let chunked = format!(
        "POST /v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x};note=1\r\n{body}\r\n0\r\nX-Trailer: 1\r\n\r\n",
        body.len()
    );
    let ex = exchange(&server, chunked.as_bytes(), 1);
    check_grant(&ex.answers[0], 201, Expect::defaults(fixture.id()));
    // A head of 20 KiB is within both servers' 32 KiB.
    let big = format!(
        "GET /pingLicenseManager HTTP/1.1\r\nHost: localhost\r\nX-Fill: {}\r\n\r\n",
        "f".repeat(20 * 1024)
    );
    one(&server, big.as_bytes(), 200, false);
    // Pipelined requests are answered in order.
    let ex = exchange(
        &server,
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /v1/nothing HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        3,
    );
    let statuses: Vec<u16> = ex.answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 200]);
    assert!(ex.closed);
}

/// A request hidden in a body, or behind a refused head on the same
/// connection, is never executed: each would take a grant here.
pub fn smuggled_requests_are_never_executed(bin: &Bin) {
    let (server, fixture) = start(bin);
    let smuggled = |n: u32| {
        grant_request(
            "HTTP/1.1",
            &format!("smuggled-{n}"),
            "Content-Length: {len}\r\n",
        )
    };
    let head = "POST /v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";

    // async-h1 read only the first coding: no body, the body a request.
    let mut gzip = format!("{head}Transfer-Encoding: gzip, chunked\r\n\r\n").into_bytes();
    gzip.extend(smuggled(1));
    refused(&server, &gzip);
    // The same coding list with a well-formed chunked grant: a server that
    // took the last coding alone would execute it.
    let body =
        json!({"product": "open", "hostname": "smuggled-5", "port": 1, "cores": 1}).to_string();
    let gzip = format!(
        "{head}Transfer-Encoding: gzip, chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    refused(&server, gzip.as_bytes());

    // Behind a good request: a chunked body that ends early for a reader
    // of Content-Length, carrying another request.
    let mut inner = b"0\r\n\r\n".to_vec();
    inner.extend(smuggled(2));
    let mut both = b"GET /pingLicenseManager HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    both.extend(
        format!(
            "{head}Transfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n",
            inner.len()
        )
        .into_bytes(),
    );
    both.extend(&inner);
    let ex = exchange(&server, &both, 2);
    let statuses: Vec<u16> = ex.answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400], "{}", ex.answers[1].describe());
    assert!(ex.closed);

    // Differing lengths: a proxy that takes the first passes the next
    // request on as this body; async-h1 took the last and executed it.
    let third = smuggled(3);
    let mut lengths = format!(
        "{head}Content-Length: {}\r\nContent-Length: 0\r\n\r\n",
        third.len()
    )
    .into_bytes();
    lengths.extend(third);
    refused(&server, &lengths);

    // A refused Host, and a request pipelined behind it.
    let mut host = b"GET /pingLicenseManager HTTP/1.1\r\nHost: a/b\r\n\r\n".to_vec();
    host.extend(smuggled(4));
    refused(&server, &host);

    let control = grant_request(
        "HTTP/1.1",
        "control",
        "Content-Length: {len}\r\nConnection: close\r\n",
    );
    check_grant(
        &exchange(&server, &control, 1).answers[0],
        201,
        Expect::defaults(fixture.id()),
    );
    let held = held_hostnames(&server);
    assert!(
        held.contains(&"control".to_owned()),
        "the listing shows grants: {held:?}"
    );
    let leaked: Vec<&String> = held.iter().filter(|h| h.starts_with("smuggled")).collect();
    assert!(
        leaked.is_empty(),
        "smuggled requests were executed: {leaked:?}"
    );
}
