//! `tenured-smol serve`: async-h1 (HTTP/1.1) over async-net, optional TLS
//! through futures-rustls, bounded connections, bounded storage work, head,
//! body and idle timeouts, heartbeats and sweeps on smol timers, and a
//! SIGTERM drain.

mod async_h1_quirks;
mod conn;
mod handler;

use anyhow::Context;
use handler::Shared;
use smol::future::FutureExt;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Timer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenure_service::Service;
use tenure_service::cli::ServeArgs;
use tenure_service::listen;
use tenure_service::plan::{Periodic, Server, admission};
use tenure_service::settings::Settings;
use tenure_service::startup::StartupError;
use tenure_storage::Store;

/// The listening socket and TLS settings, ready before storage is opened.
pub type Bound = listen::Bound<futures_rustls::TlsAcceptor>;

/// Reads the TLS files and binds the listening address; the binary calls
/// this before it opens storage (see `tenure_service::listen`).
pub fn bind(args: &Settings) -> Result<Bound, StartupError> {
    listen::bind(args, tenure_service::tls::ALPN_HTTP11)
}

/// Runs the server on `ex` and `bound` until `shutdown` resolves, then
/// drains and deregisters.
pub async fn serve<S: Store + 'static>(
    ex: Arc<Executor<'static>>,
    bound: Bound,
    service: Arc<Service<S>>,
    args: &ServeArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listen::Bound { listener, tls } = bound;
    let listener = TcpListener::try_from(listener).context("listening socket")?;
    let local = listener.local_addr().context("local address")?;
    let server = Arc::new(Server::start(service, args, local, tls.is_some()));
    // Closing the channel (dropping the sender) tells every connection to drain.
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let background = spawn_background(&ex, &server);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                shutdown.as_mut().await;
                None
            })
            .await;
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                Timer::after(admission::accept_failed(&e)).await;
                continue;
            }
        };
        let Some(admitted) = server.admission.admit(peer) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (server, tls, stop) = (server.clone(), tls.clone(), stop_rx.clone());
        ex.spawn(async move {
            connection(stream, tls, server, stop).await;
            drop(admitted);
        })
        .detach();
    }
    server.drain_started();
    drop(listener);
    drop(stop_tx);
    let deadline = Instant::now() + server.plan.drain_timeout;
    while server.admission.open() > 0 {
        if Instant::now() >= deadline {
            server.drain_timed_out();
            break;
        }
        Timer::after(Duration::from_millis(20)).await;
    }
    drop(background);
    let stopping = server.clone();
    smol::unblock(move || stopping.stop()).await;
    Ok(())
}

/// The heartbeat and the sweep, each on its own timer; cancelled when the
/// tasks are dropped.
fn spawn_background<S: Store + 'static>(
    ex: &Executor<'static>,
    server: &Server<S>,
) -> [smol::Task<()>; 2] {
    Periodic::both(&server.service, &server.plan).map(|work| {
        ex.spawn(async move {
            loop {
                Timer::after(work.every()).await;
                if let Some(run) = work.tick() {
                    smol::unblock(move || run.call()).detach();
                }
            }
        })
    })
}

async fn connection<S: Store + 'static>(
    stream: TcpStream,
    tls: Option<futures_rustls::TlsAcceptor>,
    shared: Arc<Shared<S>>,
    stop: smol::channel::Receiver<()>,
) {
    let Some(acceptor) = tls else {
        return conn::drive(stream, shared, stop).await;
    };
    let handshake = async { Some(acceptor.accept(stream).await) }
        .or(async {
            Timer::after(shared.plan.header_timeout).await;
            None
        })
        .await;
    match handshake {
        Some(Ok(tls_stream)) => {
            conn::drive(async_h1_quirks::cloneable(tls_stream), shared, stop).await
        }
        Some(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        None => tracing::debug!("TLS handshake timed out"),
    }
}
