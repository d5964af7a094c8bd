//! `tenured-smol`: the Tenure License Manager on smol. Same commands, flags,
//! output and exit codes as `tenured`.

use smol::Executor;
use smol::stream::StreamExt;
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

async fn serve(
    ex: Arc<Executor<'static>>,
    args: ServeArgs,
    banner: Option<demo::Demo>,
) -> ExitCode {
    // M11: settings that break a rule stop the start before anything is bound.
    let args = match Settings::check(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before storage: see `server::bind`.
    let bound = match tenure_smol::server::bind(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
    };
    let built = {
        let args = args.clone();
        smol::unblock(move || startup::build(&args)).await
    };
    let service = match built {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("tenured: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(d) = &banner {
        eprintln!("{}", demo::banner(d, &format!("http://{}", args.listen)));
    }
    ex.spawn(reload_on_hangup(service.clone())).detach();
    match tenure_smol::server::serve(ex, bound, service, &args, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenured: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `serve` on an executor with one thread per core (as tokio's
/// multi-threaded runtime does).
fn run_serve(args: ServeArgs, banner: Option<demo::Demo>) -> ExitCode {
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
    // `serve` (the accept loop) runs as a task: as the `block_on` future it
    // would be polled on every wake-up of this thread, and each poll makes
    // async-io retry `accept` and re-arm the listener (two system calls).
    let server = ex.spawn(serve(ex.clone(), args, banner));
    smol::block_on(ex.run(server))
}

fn main() -> ExitCode {
    // The same parsing as `tenured`, `--config` file included.
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
            run_serve(*args, None)
        }
        Command::Migrate(args) => {
            init_logs(LogFormat::Text);
            match startup::migrate(&args) {
                Ok(applied) if applied.is_empty() => {
                    println!("schema is current; nothing to apply");
                    ExitCode::SUCCESS
                }
                Ok(applied) => {
                    println!("applied migrations: {}", applied.join(", "));
                    ExitCode::SUCCESS
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
                    run_serve(serve_args, Some(d))
                }
                Err(e) => {
                    eprintln!("tenured: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
