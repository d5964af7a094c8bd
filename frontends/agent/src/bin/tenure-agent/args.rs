use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Runs a command only while it is licensed by a Tenure manager. Every flag
/// also reads `TENURE_<FLAG>`.
#[derive(Debug, Parser)]
#[command(name = "tenure-agent", version = tenure_agent::VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get a grant, run COMMAND, keep the grant renewed, stop COMMAND when the
    /// license says so, release the grant when COMMAND ends.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Manager URLs tried in order: one load balancer, or each manager.
    #[arg(long, env = "TENURE_MANAGER", required = true, value_delimiter = ',')]
    pub manager: Vec<String>,
    #[arg(long, env = "TENURE_ENVIRONMENT", default_value = "production")]
    pub environment: String,
    #[arg(long, env = "TENURE_PRODUCT")]
    pub product: String,
    #[arg(long, env = "TENURE_HOSTNAME")]
    pub hostname: String,
    #[arg(long, env = "TENURE_PORT")]
    pub port: u16,
    #[arg(long, env = "TENURE_CORES")]
    pub cores: u32,
    #[arg(long, env = "TENURE_IP")]
    pub ip: Option<String>,
    /// The component's version, reported to the manager.
    #[arg(long = "version", env = "TENURE_VERSION")]
    pub component_version: Option<String>,
    /// A PEM CA certificate to trust (a private CA).
    #[arg(long, env = "TENURE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// The component token file (M10): its first token is sent as
    /// `Authorization: Bearer`. Mode 0600 or 0640; re-read on SIGHUP.
    #[arg(long, env = "TENURE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    #[arg(long, env = "TENURE_REQUEST_TIMEOUT", default_value = "10s")]
    pub request_timeout: String,
    /// How long COMMAND gets between SIGTERM and SIGKILL.
    #[arg(long, env = "TENURE_KILL_TIMEOUT", default_value = "10s")]
    pub kill_timeout: String,
    /// The licensed command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}
