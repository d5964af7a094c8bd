//! `tenurectl` subcommands. Vendor commands work on files only; admin commands
//! talk to a manager's admin API.

mod admin;
mod args;
mod audit;
mod issue;
mod keygen;
mod limits;
mod report;
mod summary;
mod table;
mod verify;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Keygen(a) => keygen::run(&a),
        Command::Issue(a) => issue::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Status(a) => admin::blocking(admin::status(a)),
        Command::Grants(a) => admin::blocking(admin::grants(a)),
        Command::Usage(a) => admin::blocking(admin::usage(a)),
        Command::Audit(a) => admin::blocking(audit::run(a)),
        Command::Report(a) => admin::blocking(report::run(a)),
        Command::Release(a) => admin::blocking(admin::release(a)),
        Command::Revoke(a) => admin::blocking(admin::revoke(a)),
        Command::InstallLicense(a) => admin::blocking(admin::install_license(a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
}

/// The system clock as the core spells it; before 1970 reads as 0, which only
/// makes `verify` call a license not yet valid.
pub fn wall_now() -> tenure_core::UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    tenure_core::UnixMillis(ms)
}
