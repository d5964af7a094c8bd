//! `tenure-agent`: runs a licensed command only while licensed (docs/protocol.md
//! section 5). Exit codes are listed in docs/agent.md and `exit`.

mod args;
mod child;
mod events;
mod exit;
mod run;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not usage errors; clap knows which is which.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    init_logging();
    let Command::Run(args) = cli.command;
    // One thread, this one, for the whole life of the process (A7): the
    // command's parent-death signal fires when the *thread* that forked it
    // ends, not the process. A worker of a multi-thread runtime, or a
    // blocking-pool thread that idles out, would kill the command while the
    // agent still runs. block_on on the main thread forks from the main thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    ExitCode::from(runtime.block_on(run::run(args)))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
