//! HTTP/2 on `tenured`: what one connection may make the server hold is
//! bounded by the SETTINGS it sends (`tenure_tokio::server::h2_limits`),
//! not by hyper's far larger defaults: two streams at once, 16 KiB a stream
//! before the server reads it, and 8 KiB of decoded header list a request.

mod real_server;

use bytes::Bytes;
use real_server::*;
use std::time::Duration;
use tenure_tokio::server::h2_limits;

/// Far beyond what a local answer takes; reached only when one never comes.
const WAIT: Duration = Duration::from_secs(10);

type Client = h2::client::SendRequest<Bytes>;
type Connection = h2::client::Connection<tokio::net::TcpStream, Bytes>;

/// Runs `work` while driving `connection`, which must not end first.
async fn driving<T>(connection: &mut Connection, work: impl Future<Output = T>) -> T {
    tokio::select! {
        out = tokio::time::timeout(WAIT, work) => out.expect("no answer in time"),
        end = connection => panic!("the server ended the connection: {end:?}"),
    }
}

async fn get(
    client: &mut Client,
    addr: &str,
    extra: Option<(&str, String)>,
) -> Result<u16, String> {
    let mut request = hyper::Request::get(format!("http://{addr}/pingLicenseManager"));
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    let request = request.body(()).expect("request");
    let ready = client.clone().ready().await.map_err(|e| e.to_string())?;
    *client = ready;
    let (answer, _) = client
        .send_request(request, true)
        .map_err(|e| e.to_string())?;
    let answer = answer.await.map_err(|e| e.to_string())?;
    Ok(answer.status().as_u16())
}

#[test]
fn http2_settings_bound_streams_windows_and_header_lists() {
    let setup = Setup::new(3600, 10);
    let server = Server::start(&setup, 0, &[]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        // Prior knowledge: HTTP/2 without TLS, as hyper's auto builder takes it.
        let (mut client, mut connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        // The server's SETTINGS come before its first answer.
        let status = driving(&mut connection, get(&mut client, &addr, None)).await;
        assert_eq!(status, Ok(200), "HTTP/2 is served");
        assert_eq!(
            connection.max_concurrent_send_streams(),
            h2_limits::MAX_CONCURRENT_STREAMS as usize,
            "streams a client may open at once"
        );

        // A request body the server has not read yet: the client may send
        // no more than the server's initial stream window.
        let request = hyper::Request::post(format!("http://{addr}/v1/grants"))
            .header("content-type", "application/json")
            .body(())
            .expect("request");
        let (_answer, mut body) = client.send_request(request, false).expect("send");
        body.reserve_capacity(1 << 20);
        let granted = driving(
            &mut connection,
            std::future::poll_fn(|cx| body.poll_capacity(cx)),
        )
        .await
        .expect("capacity")
        .expect("capacity");
        assert!(
            granted <= h2_limits::STREAM_WINDOW as usize,
            "the server let one stream send {granted} bytes before reading any"
        );
        body.send_reset(h2::Reason::CANCEL);

        // A header list beyond 8 KiB (decoded) is never served.
        let big = "h".repeat(12 * 1024);
        let too_big = driving(
            &mut connection,
            get(&mut client, &addr, Some(("x-fill", big))),
        )
        .await;
        assert!(
            too_big != Ok(200),
            "a 12 KiB header list was served: {too_big:?}"
        );
    });
}
