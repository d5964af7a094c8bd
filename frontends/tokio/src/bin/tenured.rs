//! `tenured`: the Tenure License Manager on tokio.

use std::process::ExitCode;
use std::sync::Arc;
use tenure_service::cli::{Cli, Command, LogFormat, ServeArgs};
use tenure_service::settings::Settings;
use tenure_service::{demo, startup};

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

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

async fn serve(args: ServeArgs, banner: Option<demo::Demo>) -> ExitCode {
    // M11: settings that break a rule stop the start before anything is bound.
    let args = match Settings::check(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before storage: see `server::bind`.
    let bound = match tenure_tokio::server::bind(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
    };
    let built = {
        let args = args.clone();
        tokio::task::spawn_blocking(move || startup::build(&args)).await
    };
    let service = match built {
        Ok(Ok(s)) => Arc::new(s),
        Ok(Err(e)) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("tenured: startup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(d) = &banner {
        eprintln!("{}", demo::banner(d, &format!("http://{}", args.listen)));
    }
    tokio::spawn(reload_on_hangup(service.clone()));
    match tenure_tokio::server::serve(bound, service, &args, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenured: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::from_args(std::env::args_os().collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => {
            init_logs(args.log_format);
            serve(*args, None).await
        }
        Command::Migrate(args) => {
            init_logs(LogFormat::Text);
            match tokio::task::spawn_blocking(move || startup::migrate(&args)).await {
                Ok(Ok(applied)) if applied.is_empty() => {
                    println!("schema is current; nothing to apply");
                    ExitCode::SUCCESS
                }
                Ok(Ok(applied)) => {
                    println!("applied migrations: {}", applied.join(", "));
                    ExitCode::SUCCESS
                }
                Ok(Err(e)) => {
                    eprintln!("tenured: {e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("tenured: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo(args) => {
            init_logs(args.log_format);
            match demo::prepare(&args) {
                Ok(d) => {
                    let serve_args = d.serve.clone();
                    serve(serve_args, Some(d)).await
                }
                Err(e) => {
                    eprintln!("tenured: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
