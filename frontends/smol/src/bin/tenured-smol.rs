//! `tenured-smol`: the Tenure License Manager on smol. Same commands, flags,
//! output and exit codes as `tenured`: what runs before the runtime is
//! `tenure_service::launch`.

use smol::Executor;
use smol::stream::StreamExt;
use std::process::ExitCode;
use std::sync::Arc;
use tenure_service::launch;

async fn shutdown_signal() {
    use async_signal::{Signal, Signals};
    match Signals::new([Signal::Term, Signal::Int]) {
        Ok(mut signals) => {
            signals.next().await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

/// SIGHUP re-reads the component token file (M10 rotation); it never stops
/// the manager.
async fn reload_on_hangup<S: tenure_storage::Store + 'static>(
    service: Arc<tenure_service::Service<S>>,
) {
    use async_signal::{Signal, Signals};
    let mut hangups = match Signals::new([Signal::Hup]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGHUP: component tokens are read at start only");
            return;
        }
    };
    while hangups.next().await.is_some() {
        let svc = service.clone();
        smol::unblock(move || svc.reload_component_tokens()).await;
    }
}

/// Runs the server on an executor with one thread per core (as tokio's
/// multi-threaded runtime does).
fn run_serve(ready: launch::Ready<futures_rustls::TlsAcceptor>) -> ExitCode {
    let ex = Arc::new(Executor::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for i in 1..threads {
        let ex = ex.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("smol-{i}"))
            .spawn(move || smol::block_on(ex.run(std::future::pending::<()>())));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start an executor thread");
        }
    }
    let launch::Ready {
        settings,
        bound,
        service,
    } = ready;
    ex.spawn(reload_on_hangup(service.clone())).detach();
    // The accept loop runs as a task: as the `block_on` future it would be
    // polled on every wake-up of this thread, and each poll makes async-io
    // retry `accept` and re-arm the listener (two system calls).
    let server = ex.spawn({
        let ex = ex.clone();
        async move {
            let served =
                tenure_smol::server::serve(ex, bound, service, &settings, shutdown_signal()).await;
            launch::exit_code(served)
        }
    });
    smol::block_on(ex.run(server))
}

fn main() -> ExitCode {
    match launch::from_command_line(tenure_service::tls::ALPN_HTTP11) {
        Ok(ready) => run_serve(ready),
        Err(code) => code,
    }
}
