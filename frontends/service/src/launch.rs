//! Everything a manager binary does before its runtime starts, the same for
//! `tenured` and `tenured-smol`: parse the command line (the `--config` file
//! included), set up logs, run `migrate`, prepare `demo`, and bring a manager
//! up in the order that reports a bad setting before anything is bound (M11)
//! and a bad address or certificate before storage is opened (`listen`).
//! All of it blocks, so it runs before the runtime exists; the binary keeps
//! only what its runtime owns: signals, the accept loop and its tasks.

use crate::cli::{Cli, Command, LogFormat};
use crate::listen::{self, Bound};
use crate::service::Service;
use crate::settings::Settings;
use crate::{demo, startup};
use std::process::ExitCode;
use std::sync::Arc;
use tenure_storage::DieselStore;

/// The prefix of every line a manager binary prints about itself; both
/// binaries print the same lines, so scripts and tests read either.
const NAME: &str = "tenured";

/// A manager ready to serve: checked settings, the bound socket and the
/// service on its opened storage.
pub struct Ready<A> {
    pub settings: Settings,
    pub bound: Bound<A>,
    pub service: Arc<Service<DieselStore>>,
}

impl<A> std::fmt::Debug for Ready<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("listen", &self.settings.args().listen)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// Runs the command line's command up to the point where a runtime is
/// needed: `Ok` with a manager to serve (`serve`, `demo`), or `Err` with the
/// exit code of a command that is done (`migrate`, `--version`, a bad
/// command line, a failed start). `alpn` is what the frontend's TLS speaks.
pub fn from_command_line<A: From<Arc<rustls::ServerConfig>>>(
    alpn: &[&[u8]],
) -> Result<Ready<A>, ExitCode> {
    let cli = Cli::from_args(std::env::args_os().collect()).map_err(fail)?;
    match cli.command {
        Command::Serve(args) => {
            init_logs(args.log_format);
            bring_up(Settings::check(*args).map_err(fail)?, alpn)
        }
        Command::Migrate(args) => {
            init_logs(LogFormat::Text);
            let applied = startup::migrate(&args).map_err(fail)?;
            if applied.is_empty() {
                println!("schema is current; nothing to apply");
            } else {
                println!("applied migrations: {}", applied.join(", "));
            }
            Err(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            init_logs(args.log_format);
            let prepared = demo::prepare(&args).map_err(fail)?;
            let settings = Settings::check(prepared.serve.clone()).map_err(fail)?;
            let ready = bring_up(settings, alpn)?;
            let url = format!("http://{}", ready.settings.args().listen);
            eprintln!("{}", demo::banner(&prepared, &url));
            Ok(ready)
        }
    }
}

/// Binds before storage is opened (see `listen`), then opens storage.
fn bring_up<A: From<Arc<rustls::ServerConfig>>>(
    settings: Settings,
    alpn: &[&[u8]],
) -> Result<Ready<A>, ExitCode> {
    let bound = listen::bind(&settings, alpn).map_err(fail)?;
    let service = Arc::new(startup::build(&settings).map_err(fail)?);
    Ok(Ready {
        settings,
        bound,
        service,
    })
}

/// The one line on stdout once the socket is served: scripts and tests read
/// the bound address here.
pub fn announce(local: std::net::SocketAddr, tls: bool, node: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", listening_line(local, tls));
    let _ = out.flush();
    tracing::info!(%local, node, "listening");
}

/// The text of the line `announce` prints.
fn listening_line(local: std::net::SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{NAME} listening on {scheme}://{local}")
}

/// How the accept loop ended, as the process's exit code.
pub fn exit_code<E: std::fmt::Display>(served: Result<(), E>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{NAME}: {e}");
    ExitCode::FAILURE
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts, the docs and every launcher read this line as it is.
    #[test]
    fn the_listening_line_is_the_one_scripts_read() {
        let local = "127.0.0.1:4100".parse().expect("address");
        assert_eq!(
            listening_line(local, false),
            "tenured listening on http://127.0.0.1:4100"
        );
        assert_eq!(
            listening_line(local, true),
            "tenured listening on https://127.0.0.1:4100"
        );
    }
}
