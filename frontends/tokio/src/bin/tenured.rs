//! `tenured`: the Tenure License Manager on tokio. What runs before the
//! runtime is `tenure_service::launch`, shared with `tenured-smol`.

use std::process::ExitCode;
use std::sync::Arc;
use tenure_service::launch;
use tenure_tokio::server::Bound;

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// SIGHUP re-reads the component token file (M10 rotation); it never stops
/// the manager.
async fn reload_on_hangup<S: tenure_storage::Store + 'static>(
    service: Arc<tenure_service::Service<S>>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGHUP: component tokens are read at start only");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let svc = service.clone();
        let _ = tokio::task::spawn_blocking(move || svc.reload_component_tokens()).await;
    }
}

fn main() -> ExitCode {
    let ready = match launch::from_command_line::<tokio_rustls::TlsAcceptor>(
        tenure_service::tls::ALPN_H2_HTTP11,
    ) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return launch::exit_code(Err(format!("cannot start the runtime: {e}"))),
    };
    runtime.block_on(async {
        let launch::Ready {
            settings,
            bound,
            service,
        } = ready;
        let bound: Bound = bound;
        tokio::spawn(reload_on_hangup(service.clone()));
        launch::exit_code(
            tenure_tokio::server::serve(bound, service, &settings, shutdown_signal()).await,
        )
    })
}
