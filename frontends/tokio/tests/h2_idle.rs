//! HTTP/2 on `tenured`: PING frames are not progress. A connection that only
//! pings is closed after `--idle-timeout`, as one that sends nothing is;
//! otherwise a client could hold a connection slot for ever with a frame
//! every few seconds.

mod real_server;

use real_server::*;
use std::time::{Duration, Instant};

/// How long the test waits for the close: far beyond the 2 s idle timeout,
/// and reached only when the connection is never closed.
const GIVE_UP: Duration = Duration::from_secs(30);

#[test]
fn a_connection_that_only_pings_is_closed_when_idle() {
    let setup = Setup::new(3600, 10);
    let server = Server::start(&setup, 0, &["--idle-timeout", "2s"]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, pings, closed) = rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        // Prior knowledge: HTTP/2 without TLS, as hyper's auto builder takes it.
        let (client, mut connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        let mut ping_pong = connection.ping_pong().expect("ping_pong");
        let driver = tokio::spawn(connection);
        let mut client = client.ready().await.expect("ready");
        let request = hyper::Request::get(format!("http://{addr}/pingLicenseManager"))
            .body(())
            .expect("request");
        let (answer, _) = client.send_request(request, true).expect("send");
        let status = answer.await.expect("answer").status();
        let started = Instant::now();
        let mut pings = 0u32;
        let closed = loop {
            if started.elapsed() > GIVE_UP {
                break false;
            }
            match ping_pong.ping(h2::Ping::opaque()).await {
                Ok(_) => pings += 1,
                Err(_) => break true,
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        // An open connection's driver never ends by itself.
        driver.abort();
        (status, pings, closed)
    });
    assert_eq!(status, 200, "HTTP/2 is served");
    assert!(pings > 0, "the server answered pings before it closed");
    assert!(
        closed,
        "a connection that only pinged was still open after {GIVE_UP:?} ({pings} pings)"
    );
}
