//! Raw-socket abuse: slow headers, half-open connections, huge header blocks,
//! garbage. The server must stay up and keep answering normal requests.

use super::{Expect, check_grant};
use crate::support::client::IO_TIMEOUT;
use crate::support::{Bin, Fixture, Launch, Server};
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn start(bin: &Bin, launch: impl FnOnce(Launch) -> Launch) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-robust-1");
    (Server::start(bin, launch(Launch::new(&fixture))), fixture)
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect_timeout(&server.addr(), IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s
}

/// What came back on a raw connection.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// EOF or reset before any response byte.
    Closed,
    /// The status of the response's first line.
    Status(u16),
    /// Bytes that are not an HTTP response.
    Other(String),
    /// Nothing within `limit`, connection still open.
    Silent,
}

fn outcome(s: &mut TcpStream, limit: Duration) -> Outcome {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(2).any(|w| w == b"\r\n") || got.len() > 4096 {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if got.is_empty() {
                    return Outcome::Silent;
                }
                break;
            }
            Err(_) => break,
        }
    }
    if got.is_empty() {
        return Outcome::Closed;
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let first = text.lines().next().unwrap_or("");
    match first.split(' ').collect::<Vec<_>>()[..] {
        [v, code, ..] if v.starts_with("HTTP/1.") => code
            .parse()
            .map_or_else(|_| Outcome::Other(text.clone()), Outcome::Status),
        _ => Outcome::Other(text),
    }
}

/// A normal request on a new connection answers promptly.
fn assert_serving(server: &Server, within: Duration) {
    let start = Instant::now();
    let resp = server.get("/pingLicenseManager");
    assert_eq!(resp.status, 200, "{}", resp.describe());
    assert!(
        start.elapsed() <= within,
        "ping took {:?} (limit {within:?})",
        start.elapsed()
    );
}

pub fn slow_headers_time_out(bin: &Bin) {
    let (server, _) = start(bin, |l| l.arg("--header-read-timeout", "2s"));
    // A head that arrives in two parts within the timeout is served.
    let mut split = connect(&server);
    split
        .write_all(b"GET /pingLicenseManager HTTP/1.1\r\nHo")
        .expect("write");
    std::thread::sleep(Duration::from_millis(500));
    split
        .write_all(b"st: localhost\r\nConnection: close\r\n\r\n")
        .expect("write");
    assert_eq!(outcome(&mut split, IO_TIMEOUT), Outcome::Status(200));

    // Half a head, then nothing: closed (or 408) after about 2 s.
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"POST /v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
                .expect("write");
            s
        })
        .collect();
    // Meanwhile other clients are served.
    for _ in 0..5 {
        assert_serving(&server, Duration::from_secs(3));
    }
    for s in &mut slow {
        let got = outcome(s, Duration::from_secs(10));
        assert!(
            matches!(got, Outcome::Closed | Outcome::Status(408)),
            "a slow head should be closed or get 408 after --header-read-timeout 2s, got {got:?} after {:?}",
            started.elapsed()
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500),
        "slow heads were cut after {elapsed:?}, before the 2 s timeout"
    );
    assert!(elapsed <= Duration::from_secs(12), "took {elapsed:?}");
    assert_serving(&server, Duration::from_secs(3));
}

/// The soft limit on open files of this process, from /proc (Linux), if known.
fn open_files_soft_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

pub fn half_open_connections_do_not_block(bin: &Bin) {
    let (server, fixture) = start(bin, |l| l.arg("--max-connections", "2000"));
    // Stay well under the fd limit of this process (other tests run in parallel).
    let n = open_files_soft_limit().map_or(500, |soft| soft.saturating_sub(300).min(500)) as usize;
    assert!(n >= 100, "fd limit too low for this test: {n}");
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = Vec::with_capacity(n);
    while idle.len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "only {} of {n} connections were accepted within 20 s",
            idle.len()
        );
        idle.push(connect(&server));
    }
    let expect = Expect::defaults(fixture.id());
    for i in 0..10 {
        assert_serving(&server, Duration::from_secs(5));
        let t = Instant::now();
        let body =
            json!({"product": "open", "hostname": format!("busy-{i}"), "port": 1, "cores": 1});
        check_grant(&server.grant(&body), 201, expect);
        assert!(
            t.elapsed() <= Duration::from_secs(5),
            "grant took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(
        idle.len(),
        n,
        "the idle connections were held open throughout"
    );
    drop(idle);
    assert_serving(&server, Duration::from_secs(5));
}

pub fn oversized_header_block(bin: &Bin) {
    let (server, _) = start(bin, |l| l);
    let many: String = (0..100)
        .map(|i| format!("X-Fill-{i}: {}\r\n", "a".repeat(1000)))
        .collect();
    let one = format!("X-Big: {}\r\n", "b".repeat(100 * 1024));
    for fill in [many, one] {
        let mut s = connect(&server);
        let head = format!("GET /pingLicenseManager HTTP/1.1\r\nHost: localhost\r\n{fill}\r\n");
        let _ = s.write_all(head.as_bytes()); // the server may close early
        let got = outcome(&mut s, IO_TIMEOUT);
        assert!(
            matches!(got, Outcome::Closed | Outcome::Status(431)),
            "100 KiB of headers should get 431 or a closed connection, got {got:?}"
        );
        assert_serving(&server, Duration::from_secs(3));
    }
}

pub fn garbage_bytes(bin: &Bin) {
    let (server, _) = start(bin, |l| l);
    let payloads: [&[u8]; 6] = [
        b"\x00\x01\x02\x03\xff\xfe\xfd garbage \r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 tls client hello on plain http",
        b"POST /v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n",
    ];
    for p in payloads {
        let mut s = connect(&server);
        let _ = s.write_all(p);
        let got = outcome(&mut s, Duration::from_secs(5));
        assert!(
            matches!(got, Outcome::Closed | Outcome::Status(400)),
            "{:?} should get 400 or a closed connection, got {got:?}",
            String::from_utf8_lossy(p)
        );
        assert_serving(&server, Duration::from_secs(3));
    }
}
