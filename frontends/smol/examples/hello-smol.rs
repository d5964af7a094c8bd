//! The async-h1 ceiling for `scripts/ping-load.sh`: the smallest smol + async-h1
//! server, on an `async_executor::Executor` run on one thread per core (as
//! `tenured-smol`), answering `OK` to everything.
//!   cargo run --release -p tenure-smol --example hello-smol -- 127.0.0.1:PORT [accept|loop]
//!
//! `accept` (the default) serves each connection with `async_h1::accept`, as
//! async-h1's own examples do. `loop` serves it with async-h1's `decode` and
//! `Encoder` in a keep-alive loop of our own, as `tenured-smol` does: no
//! per-request head timer (async-h1 arms one on async-io 1's reactor, a
//! second reactor thread woken on every request) and one write per answer.
//! `HELLO_THREADS` overrides the number of executor threads.

use smol::Executor;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use std::sync::Arc;

async fn respond(_req: http_types::Request) -> http_types::Result<http_types::Response> {
    let mut res = http_types::Response::new(http_types::StatusCode::Ok);
    res.set_body("OK");
    Ok(res)
}

async fn keep_alive_loop(mut stream: TcpStream) -> http_types::Result<()> {
    let mut out = Vec::with_capacity(512);
    loop {
        let Some((req, mut body)) = async_h1::server::decode(stream.clone()).await? else {
            return Ok(());
        };
        let close = req
            .header("connection")
            .is_some_and(|c| c.as_str().eq_ignore_ascii_case("close"));
        let method = req.method();
        let res = respond(req).await?;
        out.clear();
        async_h1::server::Encoder::new(res, method)
            .read_to_end(&mut out)
            .await?;
        stream.write_all(&out).await?;
        smol::io::copy(&mut body, &mut smol::io::sink()).await?;
        if close {
            return Ok(());
        }
    }
}

fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let own_loop = std::env::args().nth(2).as_deref() == Some("loop");
    let threads = std::env::var("HELLO_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let ex = Arc::new(Executor::new());
    for _ in 1..threads {
        let ex = ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(std::future::pending::<()>())));
    }
    let accept = {
        let ex = ex.clone();
        async move {
            let listener = TcpListener::bind(addr.as_str()).await?;
            println!("hello listening on http://{}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let conn = async move {
                    let _ = if own_loop {
                        keep_alive_loop(stream).await
                    } else {
                        async_h1::accept(stream, respond).await
                    };
                };
                ex.spawn(conn).detach();
            }
        }
    };
    // The accept loop is a task of its own: as the `block_on` future it would
    // be polled (and async-io would retry `accept`) on every wake-up of this
    // thread.
    let accept: smol::Task<anyhow::Result<()>> = ex.spawn(accept);
    smol::block_on(ex.run(accept))
}
