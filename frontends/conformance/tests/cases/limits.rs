//! `--max-connections-per-ip`: one client address holds at most that many
//! open connections; the next one is closed at once, another address is
//! still served, and a slot comes back when a connection closes.

use crate::support::client::IO_TIMEOUT;
use crate::support::{Bin, Fixture, Launch, Server, eventually};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// A connection to `server` from the loopback address `from`.
fn connect_from(server: &Server, from: &str) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let local: IpAddr = from.parse().expect("address");
    socket
        .bind(&SocketAddr::new(local, 0).into())
        .expect("bind a loopback source address");
    socket
        .connect_timeout(&server.addr().into(), IO_TIMEOUT)
        .expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream
}

/// A keep-alive ping on `s`: its status, or `None` when the server closed
/// the connection without an answer.
fn ping(s: &mut TcpStream) -> Option<u16> {
    s.write_all(b"GET /pingLicenseManager HTTP/1.1\r\nHost: lm\r\n\r\n")
        .ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.split_whitespace().nth(1)?.parse().ok()
}

pub fn connections_per_ip_are_bounded(bin: &Bin) {
    let fixture = Fixture::standard("conf-limits-1");
    let server = Server::start(
        bin,
        Launch::new(&fixture).arg("--max-connections-per-ip", "2"),
    );
    // Two connections from 127.0.0.1, each answered, so both are held open.
    let mut first = connect_from(&server, "127.0.0.1");
    let mut second = connect_from(&server, "127.0.0.1");
    assert_eq!(ping(&mut first), Some(200));
    assert_eq!(ping(&mut second), Some(200));
    let mut third = connect_from(&server, "127.0.0.1");
    assert_eq!(
        ping(&mut third),
        None,
        "a third connection from one address"
    );
    let mut other = connect_from(&server, "127.0.0.2");
    assert_eq!(ping(&mut other), Some(200), "another address is served");
    // The held connections still work.
    assert_eq!(ping(&mut first), Some(200));
    drop(first);
    let back = eventually(Duration::from_secs(10), || {
        let mut again = connect_from(&server, "127.0.0.1");
        (ping(&mut again) == Some(200)).then_some(again)
    });
    assert!(back.is_some(), "the slot did not come back after a close");
    assert_eq!(ping(&mut second), Some(200));
}
