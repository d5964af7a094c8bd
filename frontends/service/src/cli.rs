//! The command line both `tenured` and `tenured-smol` take (docs/protocol.md
//! section 7). Every flag also reads `TENURE_<FLAG>` from the environment.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tenure_core::duration::parse_duration;

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Debug, Parser)]
#[command(version = tenure_agent::VERSION, about = "Tenure License Manager", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// What both binaries parse: `args` with the `--config` file's keys
    /// merged in (for `serve`), then the flags. A usage error exits as
    /// clap's own parsing does (status 2, with usage); a config file that
    /// cannot be read, is not TOML or has an unknown key is `Err`, one line.
    pub fn from_args(args: Vec<OsString>) -> Result<Self, String> {
        // `--version` and `--help` name the binary that runs, not this crate.
        let name = match args
            .first()
            .and_then(|a| std::path::Path::new(a).file_name())
        {
            Some(n) if n.to_string_lossy().contains("smol") => "tenured-smol",
            _ => "tenured",
        };
        let merged = crate::config_file::merge(args)?;
        let matches = Self::command().name(name).get_matches_from(merged);
        Self::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    /// The long names of `serve`'s flags: the keys a `--config` file may have.
    pub fn serve_flags() -> Vec<String> {
        Self::command()
            .find_subcommand("serve")
            .map(|serve| {
                serve
                    .get_arguments()
                    .filter_map(|a| a.get_long().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the license API (the production command).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Run a real manager on embedded SQLite with a generated DEVELOPMENT
    /// license, in a folder it creates, and print commands to try.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML file of flags (keys are long flag names); the command line and
    /// TENURE_* variables take precedence over it.
    #[arg(long, env = "TENURE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on. Plain HTTP is only allowed on loopback unless
    /// --allow-plaintext; give --tls-cert and --tls-key for HTTPS.
    #[arg(long, env = "TENURE_LISTEN", default_value = "127.0.0.1:10091")]
    pub listen: SocketAddr,
    /// Storage: sqlite://PATH (one manager), postgres://... or mysql://... (HA).
    #[arg(long, env = "TENURE_DATABASE", default_value = "sqlite://tenure.db")]
    pub database: String,
    /// License file to install when storage has none or an older one.
    #[arg(long, env = "TENURE_LICENSE")]
    pub license: Option<PathBuf>,
    /// Trusted vendor public key file; repeat for several.
    #[arg(
        long = "vendor-key",
        env = "TENURE_VENDOR_KEY",
        value_delimiter = ',',
        required = true
    )]
    pub vendor_keys: Vec<PathBuf>,
    /// Admin and viewer tokens: `NAME ROLE SECRET` lines, or one bare
    /// SECRET (an admin); secrets at least 16 characters (section 6.2).
    #[arg(long, env = "TENURE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: PathBuf,
    /// Component tokens (`NAME component SECRET` lines, or one bare SECRET):
    /// grant, renew and release then need `Authorization: Bearer` with one
    /// of them (M10). Several lines allow rotation; re-read on SIGHUP.
    #[arg(long, env = "TENURE_COMPONENT_TOKEN_FILE")]
    pub component_token_file: Option<PathBuf>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "TENURE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "TENURE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// This manager's name in the registry (default: host name and port).
    #[arg(long, env = "TENURE_NODE_ID")]
    pub node_id: Option<String>,
    /// How often components renew (sent to them as renew_every_s).
    #[arg(long, env = "TENURE_RENEW_EVERY", default_value = "300s", value_parser = duration)]
    pub renew_every: Duration,
    /// How long a renewal keeps a lease fresh (sent as lease_ttl_s).
    #[arg(long, env = "TENURE_LEASE_TTL", default_value = "900s", value_parser = duration)]
    pub lease_ttl: Duration,
    /// Added to grace before a silent grant's slot is reclaimed (M2).
    #[arg(long, env = "TENURE_RECLAIM_MARGIN", default_value = "600s", value_parser = duration)]
    pub reclaim_margin: Duration,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    #[arg(long, env = "TENURE_ALLOW_PLAINTEXT")]
    pub allow_plaintext: bool,
    /// Apply pending database migrations before serving.
    #[arg(long, env = "TENURE_MIGRATE")]
    pub migrate: bool,
    /// Log format on stderr.
    #[arg(long, env = "TENURE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// A client must send its whole request head within this time.
    #[arg(long, env = "TENURE_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub header_read_timeout: Duration,
    /// A client must send its whole body within this time.
    #[arg(long, env = "TENURE_BODY_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub body_read_timeout: Duration,
    /// A connection without a request in progress or arriving for this long
    /// is closed; HTTP/2 PINGs do not count as progress.
    #[arg(long, env = "TENURE_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Open connections beyond this are closed at once. The default keeps
    /// the memory that slow clients can make the server hold under 1 GiB
    /// (BENCHMARKS.md, "Worst-case memory with slow clients").
    #[arg(long, env = "TENURE_MAX_CONNECTIONS", default_value_t = 8_192)]
    pub max_connections: usize,
    /// Open connections from one client address (IPv6: one /64) beyond this
    /// are closed at once; 0: no limit. Behind a load balancer, at least its
    /// connection count.
    #[arg(long, env = "TENURE_MAX_CONNECTIONS_PER_IP", default_value_t = crate::per_ip::DEFAULT_MAX_PER_IP)]
    pub max_connections_per_ip: usize,
    /// Storage requests running or queued at once; beyond, 503 overloaded.
    #[arg(long, env = "TENURE_MAX_INFLIGHT", default_value_t = 256)]
    pub max_inflight: usize,
    /// Grants, renewals and releases that arrive together share one durable
    /// commit, up to this many per transaction; 0 gives each its own.
    #[arg(long, env = "TENURE_GROUP_COMMIT", default_value_t = 64)]
    pub group_commit: usize,
    /// Database connections in the pool.
    #[arg(long, env = "TENURE_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,
    /// Bound on each database statement (set in the session), and on the
    /// wait for storage before a request answers 503; 0 turns both off.
    #[arg(long, env = "TENURE_DB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub db_statement_timeout: Duration,
    /// TCP keepalive on PostgreSQL and MySQL connections: probes after this
    /// long idle, every third of it, three unanswered end the connection;
    /// 0 leaves the system's timings.
    #[arg(long, env = "TENURE_DB_KEEPALIVE", default_value = "15s", value_parser = duration)]
    pub db_keepalive: Duration,
    /// On SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, env = "TENURE_DRAIN_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub drain_timeout: Duration,
    /// How often grants past their deadline are swept.
    #[arg(long, env = "TENURE_SWEEP_EVERY", default_value = "30s", value_parser = duration)]
    pub sweep_every: Duration,
    /// How long usage rows are kept after their grant ended, and audit rows
    /// after they were written; daily roll-ups, which usage reports read,
    /// are kept past it (6.3).
    #[arg(long, env = "TENURE_USAGE_RETENTION", default_value = "400d", value_parser = duration)]
    pub usage_retention: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[arg(long, env = "TENURE_DATABASE", default_value = "sqlite://tenure.db")]
    pub database: String,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Folder to create for the demo's key, license, token and database.
    #[arg(long, env = "TENURE_DEMO_DIR", default_value = "tenure-demo")]
    pub dir: PathBuf,
    #[arg(long, env = "TENURE_LISTEN", default_value = "127.0.0.1:10091")]
    pub listen: SocketAddr,
    #[arg(long, env = "TENURE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// The refusal the protocol requires for plaintext off loopback.
    pub fn check_listen(&self) -> Result<(), String> {
        let tls = self.tls_cert.is_some();
        if !tls && !self.allow_plaintext && !self.listen.ip().is_loopback() {
            return Err(format!(
                "refusing plain HTTP on {}: give --tls-cert and --tls-key, or --allow-plaintext behind a TLS proxy",
                self.listen
            ));
        }
        Ok(())
    }

    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "tenured".into());
            format!("{host}:{}", self.listen.port())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    #[test]
    fn serve_defaults_and_durations() {
        let cli = parse(&[
            "tenured",
            "serve",
            "--vendor-key",
            "v.pub",
            "--admin-token-file",
            "t",
        ])
        .expect("parse");
        let Command::Serve(a) = cli.command else {
            panic!("serve")
        };
        assert_eq!(a.listen.port(), 10091);
        assert_eq!(a.database, "sqlite://tenure.db");
        assert_eq!(a.renew_every, Duration::from_secs(300));
        assert_eq!(a.lease_ttl, Duration::from_secs(900));
        assert!(a.check_listen().is_ok());
        let cli = parse(&[
            "tenured",
            "serve",
            "--vendor-key",
            "a.pub",
            "--vendor-key",
            "b.pub",
            "--admin-token-file",
            "t",
            "--renew-every",
            "500ms",
            "--listen",
            "0.0.0.0:1",
        ])
        .expect("parse");
        let Command::Serve(a) = cli.command else {
            panic!("serve")
        };
        assert_eq!(a.vendor_keys.len(), 2);
        assert_eq!(a.renew_every, Duration::from_millis(500));
        assert!(
            a.check_listen()
                .expect_err("plaintext")
                .contains("--allow-plaintext")
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(
            parse(&[
                "tenured",
                "serve",
                "--vendor-key",
                "v",
                "--admin-token-file",
                "t",
                "--lease-ttl",
                "15"
            ])
            .is_err()
        );
        assert!(parse(&["tenured", "serve", "--admin-token-file", "t"]).is_err());
        assert!(
            parse(&[
                "tenured",
                "serve",
                "--vendor-key",
                "v",
                "--admin-token-file",
                "t",
                "--tls-cert",
                "c"
            ])
            .is_err()
        );
    }
}
