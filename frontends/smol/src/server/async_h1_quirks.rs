//! Everything tenured-smol does because of how async-h1 works, in one place.
//! Written against async-h1 2.3.4: the tests below check that Cargo.lock
//! still pins that release, and feed async-h1 real input so that an upgrade
//! that changes what a workaround relies on fails them.
//!
//! - async-h1's server refuses HTTP/1.0 ("Unsupported HTTP version 1.0"),
//!   a head without `Host` ("Mandatory Host header missing", it builds the
//!   request's URL from it) and a head of 8 KiB or more. So it never reads
//!   a client's head: `tenure_service::framing::Gate` in `Mode::Canonical`
//!   reads and checks it (32 KiB, HTTP/1.0 included) and hands async-h1 a
//!   canonical HTTP/1.1 head with a `Host`.
//! - async-h1 writes `HTTP/1.1` on every status line. An answer to HTTP/1.0
//!   is marked with [`answer_as`] and [`serve`] puts `HTTP/1.0` on its line,
//!   with `Connection: keep-alive` when the connection stays open, as hyper
//!   says it.
//! - `async_h1::accept` arms a 60 s timer on async-io 1's reactor (a second
//!   reactor, on its own thread) for every request, and arming it wakes that
//!   thread. [`serve`] runs async-h1's request cycle (`decode` and `Encoder`)
//!   in a keep-alive loop of its own without it; the connection's watchdog
//!   enforces the head and idle timeouts instead.
//! - async-h1 copies an answer through an 8 KiB `BufReader` and writes it in
//!   two `send`s; [`serve`] encodes it into one buffer kept for the
//!   connection and writes it at once.
//! - async-h1 needs a `Clone` stream (it reads the body while the answer is
//!   written); a TLS stream is shared behind a lock ([`cloneable`]), as
//!   smol's own async-h1 example does.

use http_types::headers::CONNECTION;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tenure_service::framing::Version;

/// The encoded answer of a connection is built here (a ping's is ~150 bytes);
/// a buffer grown past the larger size by a big answer is not kept.
const OUT_BUFFER: usize = 1024;
const MAX_KEPT_OUT_BUFFER: usize = 64 * 1024;

/// A stream async-h1 can clone.
pub fn cloneable<T>(stream: T) -> async_dup::Arc<async_dup::Mutex<T>> {
    async_dup::Arc::new(async_dup::Mutex::new(stream))
}

/// Frames `out` for a request of `version` whose connection closes after
/// it (`close`) or stays open: the `Connection` header to send, and the
/// version [`serve`] puts on the status line.
pub fn answer_as(out: &mut http_types::Response, version: Version, close: bool) {
    match (close, version) {
        (true, _) => out.insert_header(CONNECTION, "close"),
        (false, Version::Http10) => out.insert_header(CONNECTION, "keep-alive"),
        (false, Version::Http11) => None,
    };
    if version == Version::Http10 {
        out.set_version(Some(http_types::Version::Http1_0));
    }
}

/// Serves requests on `io` with `endpoint` until the client leaves or an
/// answer carries `Connection: close`. As in async-h1's own `accept`,
/// unread request body is read and discarded after the answer is written.
pub async fn serve<IO, F, Fut>(mut io: IO, endpoint: F) -> http_types::Result<()>
where
    IO: AsyncRead + AsyncWrite + Clone + Send + Sync + Unpin + 'static,
    F: Fn(http_types::Request) -> Fut,
    Fut: std::future::Future<Output = http_types::Result<http_types::Response>>,
{
    let mut out = Vec::with_capacity(OUT_BUFFER);
    loop {
        let Some((req, mut body)) = async_h1::server::decode(io.clone()).await? else {
            return Ok(());
        };
        let method = req.method();
        let res = endpoint(req).await?;
        let close = res
            .header(CONNECTION)
            .is_some_and(|c| c.as_str().eq_ignore_ascii_case("close"));
        let http10 = res.version() == Some(http_types::Version::Http1_0);
        out.clear();
        async_h1::server::Encoder::new(res, method)
            .read_to_end(&mut out)
            .await?;
        if http10 && out.starts_with(b"HTTP/1.1 ") {
            out[..8].copy_from_slice(b"HTTP/1.0");
        }
        io.write_all(&out).await?;
        io.flush().await?;
        if out.capacity() > MAX_KEPT_OUT_BUFFER {
            out = Vec::with_capacity(OUT_BUFFER);
        }
        smol::io::copy(&mut body, &mut smol::io::sink()).await?;
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::net::unix::UnixStream;

    /// The async-h1 release this module was written against.
    const ASYNC_H1_VERSION: &str = "2.3.4";

    /// What async-h1's `decode` makes of `head`, sent by a client that then
    /// stops writing.
    fn decode(head: &[u8]) -> Result<http_types::Request, String> {
        smol::block_on(async {
            let (mut client, server) = UnixStream::pair().map_err(|e| e.to_string())?;
            client.write_all(head).await.map_err(|e| e.to_string())?;
            client
                .shutdown(std::net::Shutdown::Write)
                .map_err(|e| e.to_string())?;
            match async_h1::server::decode(server).await {
                Ok(Some((req, _body))) => Ok(req),
                Ok(None) => Err("end of stream".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// The answer `serve` writes to `request` when `endpoint` gives `answer`.
    fn exchange(request: &[u8], answer: http_types::Response) -> String {
        smol::block_on(async {
            let (mut client, server) = UnixStream::pair().expect("socket pair");
            client.write_all(request).await.expect("request written");
            let endpoint = move |_req| {
                let answer = answer.clone();
                async move { Ok(answer) }
            };
            serve(server, endpoint).await.expect("served");
            let mut written = String::new();
            client
                .read_to_string(&mut written)
                .await
                .expect("answer read");
            written
        })
    }

    #[test]
    fn the_lock_file_pins_the_version_this_module_was_written_for() {
        let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
        let text = std::fs::read_to_string(&lock).expect("the workspace's Cargo.lock");
        let mut lines = text.lines();
        let mut versions = Vec::new();
        while let Some(line) = lines.next() {
            if line == "name = \"async-h1\"" {
                versions.extend(lines.next());
            }
        }
        assert_eq!(
            versions,
            [format!("version = \"{ASYNC_H1_VERSION}\"")],
            "async-h1 changed: check every workaround in this module against it"
        );
    }

    #[test]
    fn async_h1_refuses_http_1_0() {
        assert_eq!(
            decode(b"GET / HTTP/1.0\r\n\r\n").map(|r| r.url().to_string()),
            Err("Unsupported HTTP version 1.0".to_owned())
        );
    }

    #[test]
    fn async_h1_needs_a_host() {
        assert_eq!(
            decode(b"GET / HTTP/1.1\r\n\r\n").map(|r| r.url().to_string()),
            Err("Mandatory Host header missing".to_owned())
        );
    }

    #[test]
    fn async_h1_refuses_a_head_of_8_kib() {
        let mut head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: ".to_vec();
        head.resize(8 * 1024, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            decode(&head).map(|r| r.url().to_string()),
            Err("Head byte length should be less than 8kb".to_owned())
        );
    }

    #[test]
    fn async_h1_reads_a_canonical_head() {
        let req = decode(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("decoded");
        assert_eq!(req.url().as_str(), "http://localhost/");
        assert_eq!(req.version(), Some(http_types::Version::Http1_1));
    }

    #[test]
    fn async_h1_writes_http_1_1_on_every_status_line() {
        let mut res = http_types::Response::new(200);
        res.set_version(Some(http_types::Version::Http1_0));
        let mut out = Vec::new();
        smol::block_on(
            async_h1::server::Encoder::new(res, http_types::Method::Get).read_to_end(&mut out),
        )
        .expect("encoded");
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"), "{out:?}");
    }

    #[test]
    fn an_answer_to_http_1_0_says_so_and_closes_when_asked() {
        let mut res = http_types::Response::new(200);
        answer_as(&mut res, Version::Http10, true);
        let written = exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", res);
        assert!(written.starts_with("HTTP/1.0 200 OK\r\n"), "{written}");
        assert!(written.contains("connection: close\r\n"), "{written}");
    }

    #[test]
    fn an_http_1_0_connection_kept_open_says_keep_alive() {
        let mut res = http_types::Response::new(204);
        answer_as(&mut res, Version::Http10, false);
        assert_eq!(
            res.header(CONNECTION).map(|c| c.as_str().to_owned()),
            Some("keep-alive".to_owned())
        );
        let mut res = http_types::Response::new(204);
        answer_as(&mut res, Version::Http11, false);
        assert!(res.header(CONNECTION).is_none());
    }
}
