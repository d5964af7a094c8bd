//! TLS with a test CA (rustls on the client, ring provider).

use super::{Expect, check_grant, example_grant};
use crate::support::client::{Request, Target};
use crate::support::tls::{TlsFiles, client_trusting_other_ca};
use crate::support::{Bin, Fixture, Launch, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub fn grant_over_https(bin: &Bin) {
    let fixture = Fixture::standard("conf-tls-1");
    let mut launch = Launch::new(&fixture);
    launch.tls = Some(TlsFiles::generate());
    let server = Server::start(bin, launch);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let resp = server.get("/pingLicenseManager");
    assert_eq!(resp.status, 200, "{}", resp.describe());
    let expect = Expect::defaults(fixture.id());
    let id = check_grant(&server.grant(&example_grant()), 201, expect);
    check_grant(&server.renew(&id), 200, expect);
    assert_eq!(server.release(&id).status, 204);

    // A client that does not trust the test CA cannot talk to it.
    let stranger = Target {
        addr: server.addr(),
        tls: Some(client_trusting_other_ca()),
    };
    let ping = Request {
        method: "GET",
        path: "/pingLicenseManager",
        ..Default::default()
    };
    assert!(
        stranger.send(&ping).is_err(),
        "a client trusting another CA got an answer"
    );

    // Plain HTTP to the TLS port gets no HTTP success.
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(
        b"GET /pingLicenseManager HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200"),
        "plain HTTP to the TLS port succeeded: {text:?}"
    );
    // And it still serves TLS afterwards.
    assert_eq!(server.get("/pingLicenseManager").status, 200);
}
