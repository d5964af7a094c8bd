use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Tenure's vendor and admin tool. Every flag also reads `TENURE_<FLAG>`.
#[derive(Debug, Parser)]
#[command(name = "tenurectl", version = tenure_agent::VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a vendor key pair; refuses to overwrite either file.
    Keygen(KeygenArgs),
    /// Sign a license with the vendor's secret key.
    Issue(IssueArgs),
    /// Check a license's signature and dates, and print it.
    Verify(VerifyArgs),
    /// The license, usage per environment and product, and the managers.
    Status(AdminArgs),
    /// Held grants.
    Grants(AdminArgs),
    /// Usage history: grants that ended (for true-up reports).
    Usage(UsageArgs),
    /// The audit trail: admin actions and refused admin calls, oldest first.
    Audit(AuditArgs),
    /// A usage report per UTC day or month and pool (for true-up).
    Report(ReportArgs),
    /// Free a crashed instance's grant.
    Release(ReleaseArgs),
    /// Revoke a grant: its component must stop.
    Revoke(RevokeArgs),
    /// Install a license on the running managers.
    InstallLicense(InstallArgs),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    #[arg(long, env = "TENURE_SECRET_KEY")]
    pub secret_key: PathBuf,
    #[arg(long, env = "TENURE_PUBLIC_KEY")]
    pub public_key: PathBuf,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    #[arg(long, env = "TENURE_SECRET_KEY")]
    pub secret_key: PathBuf,
    #[arg(long, env = "TENURE_LICENSE_ID")]
    pub license_id: String,
    #[arg(long, env = "TENURE_LICENSEE")]
    pub licensee: String,
    /// RFC 3339, inclusive.
    #[arg(long, env = "TENURE_NOT_AFTER")]
    pub not_after: String,
    /// RFC 3339; default now.
    #[arg(long, env = "TENURE_NOT_BEFORE")]
    pub not_before: Option<String>,
    /// RFC 3339; default now. A newer license replaces an older one on start.
    #[arg(long, env = "TENURE_ISSUED_AT")]
    pub issued_at: Option<String>,
    /// 1, or 2 for active-passive HA.
    #[arg(long, env = "TENURE_MAX_MANAGERS", default_value_t = 1)]
    pub max_managers: u32,
    /// Whole seconds or more, e.g. 5d.
    #[arg(long, env = "TENURE_GRACE_PERIOD", default_value = "5d")]
    pub grace_period: String,
    /// ENV/PRODUCT:servers=N,cores-per-server=N,total-cores=N (any subset), or
    /// ENV/PRODUCT:unlimited. Repeat for more products.
    #[arg(
        long = "limit",
        env = "TENURE_LIMIT",
        required = true,
        value_delimiter = ';'
    )]
    pub limits: Vec<String>,
    #[arg(long, env = "TENURE_OUT")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A trusted vendor public key; repeatable.
    #[arg(
        long = "public-key",
        env = "TENURE_PUBLIC_KEY",
        required = true,
        value_delimiter = ','
    )]
    pub public_keys: Vec<PathBuf>,
    pub license: PathBuf,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The manager (or its load balancer), e.g. https://lm.example.com:10091.
    #[arg(long, env = "TENURE_URL")]
    pub url: String,
    #[arg(long, env = "TENURE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: PathBuf,
    /// Print the server's JSON instead of a table.
    #[arg(long, env = "TENURE_JSON")]
    pub json: bool,
    /// A PEM CA certificate to trust (a private CA).
    #[arg(long, env = "TENURE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    #[arg(long, env = "TENURE_REQUEST_TIMEOUT", default_value = "30s")]
    pub request_timeout: String,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// RFC 3339: only grants that ended at or after this.
    #[arg(long, env = "TENURE_SINCE")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportBy {
    Day,
    Month,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// First period: YYYY-MM-DD or RFC 3339 (UTC periods).
    #[arg(long, env = "TENURE_FROM")]
    pub from: String,
    /// End, exclusive: YYYY-MM-DD or RFC 3339 (default: now).
    #[arg(long, env = "TENURE_TO")]
    pub to: Option<String>,
    #[arg(long, env = "TENURE_BY", value_enum, default_value = "day")]
    pub by: ReportBy,
    /// `json` is the server's answer as sent; `--json` means the same.
    #[arg(long, env = "TENURE_FORMAT", value_enum, default_value = "table")]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// RFC 3339: only rows written at or after this (storage time).
    #[arg(long, env = "TENURE_SINCE")]
    pub since: Option<String>,
    /// Show the first N rows only (1 to 10000); without, every row.
    /// (`TENURE_AUDIT_LIMIT`: `TENURE_LIMIT` is `issue --limit`.)
    #[arg(long, env = "TENURE_AUDIT_LIMIT", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub limit: Option<u64>,
    /// `table`, or `json` (the rows as the server gives them; as `--json`).
    #[arg(long, env = "TENURE_FORMAT", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// How a listing is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[arg(long, env = "TENURE_ENVIRONMENT")]
    pub environment: Option<String>,
    #[arg(long, env = "TENURE_PRODUCT")]
    pub product: String,
    #[arg(long, env = "TENURE_HOSTNAME")]
    pub hostname: String,
    #[arg(long, env = "TENURE_PORT")]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    pub grant_id: String,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    pub file: PathBuf,
}
