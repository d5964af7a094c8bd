//! `tenured serve` on tokio: hyper 1 through hyper-util's auto builder (HTTP/1
//! and HTTP/2), optional TLS, bounded connections, bounded storage work, idle
//! and header timeouts, heartbeats and sweeps on timers, and a SIGTERM drain.

mod gate;
mod handler;
mod idle;

use anyhow::Context;
use gate::Gated;
use handler::Shared;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use idle::{Activity, Tracked};
use std::sync::Arc;
use std::time::Duration;
use tenure_service::Service;
use tenure_service::cli::ServeArgs;
use tenure_service::listen;
use tenure_service::plan::{Periodic, Server, admission};
use tenure_service::settings::Settings;
use tenure_service::startup::StartupError;
use tenure_storage::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// hyper's own bound on a head; the gate refuses larger ones first (431).
const MAX_HEAD_BYTES: usize = tenure_service::framing::MAX_HEAD_BYTES;

/// HTTP/2, sized for this API: a request is a head and at most 16 KiB of
/// JSON, an answer a few hundred bytes (a listing more; it is sent as the
/// reader takes it). Agents speak HTTP/1.1; a browser on the console needs
/// a page and its stylesheet. These bound what one connection can make the
/// server hold: streams x (header list + stream window + send buffer),
/// within the connection window. At the default connection limit that
/// stays under 1 GiB (BENCHMARKS.md, "Worst-case memory with slow
/// clients"); eight streams with 32 KiB header lists cost 680 KiB a
/// connection, 6.6 GiB at that limit.
pub mod h2_limits {
    /// Streams open at once on one connection: more wait their turn.
    pub const MAX_CONCURRENT_STREAMS: u32 = 2;
    /// The decoded header list of one request: a bearer token, a session
    /// cookie and the usual headers fit many times over.
    pub const MAX_HEADER_LIST: u32 = 8 * 1024;
    /// What a client may send on a stream before the server reads it: one
    /// whole request body (16 KiB) fits.
    pub const STREAM_WINDOW: u32 = 16 * 1024;
    /// What a client may send on a connection before the server reads it:
    /// one stream window per stream.
    pub const CONNECTION_WINDOW: u32 = STREAM_WINDOW * MAX_CONCURRENT_STREAMS;
    /// The smallest frame size HTTP/2 allows (RFC 9113 section 6.5.2).
    pub const MAX_FRAME: u32 = 16 * 1024;
    /// Answer bytes buffered per stream before the client takes them.
    pub const SEND_BUFFER: usize = 64 * 1024;
}

/// The listening socket and TLS settings, ready before storage is opened.
pub type Bound = listen::Bound<tokio_rustls::TlsAcceptor>;

/// Reads the TLS files and binds the listening address; the binary calls
/// this before it opens storage (see `tenure_service::listen`).
pub fn bind(args: &Settings) -> Result<Bound, StartupError> {
    listen::bind(args, tenure_service::tls::ALPN_H2_HTTP11)
}

/// Runs the server on `bound` until `shutdown` resolves, then drains and
/// deregisters.
pub async fn serve<S: Store + 'static>(
    bound: Bound,
    service: Arc<Service<S>>,
    args: &ServeArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listen::Bound { listener, tls } = bound;
    let listener = TcpListener::from_std(listener).context("listening socket")?;
    let local = listener.local_addr().context("local address")?;
    let server = Arc::new(Server::start(service, args, local, tls.is_some()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let background = spawn_background(&server, stop_rx.clone());
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tokio::time::sleep(admission::accept_failed(&e)).await;
                        continue;
                    }
                };
                let Some(admitted) = server.admission.admit(peer) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (server, tls, stop) = (server.clone(), tls.clone(), stop_rx.clone());
                conns.spawn(async move {
                    connection(stream, tls, server, stop).await;
                    drop(admitted);
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    server.drain_started();
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(server.plan.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        server.drain_timed_out();
        conns.abort_all();
    }
    background.abort();
    let stopping = server.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.stop()).await;
    Ok(())
}

/// The heartbeat and the sweep, each on its own interval, until the drain.
fn spawn_background<S: Store + 'static>(
    server: &Server<S>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let [heartbeat, sweep] = Periodic::both(&server.service, &server.plan);
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.changed() => {}
            () = on_timer(heartbeat) => {}
            () = on_timer(sweep) => {}
        }
    })
}

async fn on_timer<S: Store + 'static>(work: Periodic<S>) {
    let mut timer = tokio::time::interval(work.every());
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        if let Some(run) = work.tick() {
            tokio::task::spawn_blocking(move || run.call());
        }
    }
}

async fn connection<S: Store + 'static>(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared<S>>,
    stop: watch::Receiver<bool>,
) {
    let header_timeout = shared.plan.header_timeout;
    // Connections without progress (see `idle`) are closed after this.
    let idle_timeout = shared.plan.idle_timeout;
    let activity = Activity::new();
    let tracked = Tracked::new(stream, activity.clone());
    // The gate reads the plaintext: under TLS, after the handshake.
    let gate = gate::Shared::new();
    match tls {
        None => {
            drive(
                TokioIo::new(Gated::new(tracked, gate.clone())),
                gate,
                shared,
                header_timeout,
                idle_timeout,
                activity,
                stop,
            )
            .await
        }
        Some(acceptor) => {
            match tokio::time::timeout(header_timeout, acceptor.accept(tracked)).await {
                Ok(Ok(tls_stream)) => {
                    drive(
                        TokioIo::new(Gated::new(tls_stream, gate.clone())),
                        gate,
                        shared,
                        header_timeout,
                        idle_timeout,
                        activity,
                        stop,
                    )
                    .await
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

async fn drive<S, I>(
    io: TokioIo<I>,
    gate: gate::Shared,
    shared: Arc<Shared<S>>,
    header_timeout: Duration,
    idle_timeout: Duration,
    activity: Activity,
    mut stop: watch::Receiver<bool>,
) where
    S: Store + 'static,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(h2_limits::MAX_HEADER_LIST)
        .max_concurrent_streams(h2_limits::MAX_CONCURRENT_STREAMS)
        .initial_stream_window_size(h2_limits::STREAM_WINDOW)
        .initial_connection_window_size(h2_limits::CONNECTION_WINDOW)
        .adaptive_window(false)
        .max_frame_size(h2_limits::MAX_FRAME)
        .max_send_buf_size(h2_limits::SEND_BUFFER);
    let heads = gate.clone();
    let progress = activity.clone();
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let running = progress.request(req.version() == hyper::Version::HTTP_2);
        let answer = handler::handle(shared.clone(), gate.clone(), req);
        let progress = progress.clone();
        async move {
            let answer = answer.await?;
            drop(running);
            Ok::<_, std::convert::Infallible>(answer.map(|body| progress.watch(body)))
        }
    });
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    // Often enough to close a slow head at most a quarter late.
    let tick = (header_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut watchdog = tokio::time::interval(tick);
    let mut draining = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = watchdog.tick() => {
                // A head on its way is the header timeout's to judge.
                if activity.idle_for() > idle_timeout && heads.head_waiting_for().is_none() {
                    tracing::debug!("closing an idle connection");
                    return;
                }
                if heads.head_waiting_for().is_some_and(|t| t >= header_timeout) {
                    tracing::debug!("request head not received in time");
                    return;
                }
            }
        }
    }
}
