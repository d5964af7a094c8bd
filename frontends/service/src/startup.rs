//! Everything `serve` does before it accepts a connection, identical for both
//! frontends: read keys and token, open and check storage, install the
//! license, register with a first heartbeat. Each failure is one line that
//! tells the operator what to do; the binary prints it and exits non-zero.

use crate::auth::Tokens;
use crate::cli::MigrateArgs;
use crate::components::ComponentTokens;
use crate::service::{Env, Service, system_clock};
use crate::settings::Settings;
use std::path::Path;
use tenure_core::license::{self, LicenseError, VerifyingKey};
use tenure_storage::{
    DieselStore, InstallPolicy, Installed, Manager, ManagerError, SchemaState, StoreOptions,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("vendor key {path}: {reason}")]
    VendorKey { path: String, reason: String },
    #[error("admin token file {path}: {reason}")]
    Token { path: String, reason: String },
    #[error("{0}")]
    ComponentTokens(String),
    #[error("{0}")]
    Listen(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("storage {url}: {reason}")]
    Storage { url: String, reason: String },
    #[error("license {path}: {0}", path = .1)]
    License(LicenseError, String),
    #[error("demo: {0}")]
    Demo(String),
    #[error("cannot read random bytes from the operating system: {0}")]
    Random(String),
    #[error("no license: storage has none; start with --license FILE")]
    NoLicense,
    #[error("the license in storage does not verify with the given vendor keys: {0}")]
    StoredLicense(String),
}

fn read(path: &Path) -> Result<String, StartupError> {
    std::fs::read_to_string(path).map_err(|source| StartupError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Hides credentials in a database URL for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// `statement_timeout` zero: no bound (`tenured migrate`).
pub fn open_store(
    database: &str,
    pool_size: u32,
    statement_timeout: std::time::Duration,
    keepalive: std::time::Duration,
) -> Result<DieselStore, StartupError> {
    let opts = StoreOptions {
        pool_size,
        statement_timeout,
        keepalive,
        ..StoreOptions::default()
    };
    DieselStore::connect(database, opts).map_err(|e| StartupError::Storage {
        url: redact(database),
        reason: e.to_string(),
    })
}

/// `tenured migrate`.
pub fn migrate(args: &MigrateArgs) -> Result<Vec<String>, StartupError> {
    let store = open_store(
        &args.database,
        1,
        std::time::Duration::ZERO,
        StoreOptions::default().keepalive,
    )?;
    store.migrate().map_err(|e| StartupError::Storage {
        url: redact(&args.database),
        reason: e.to_string(),
    })
}

/// Builds the service for `serve`, or says in one line why it cannot run.
/// `settings` were checked (§7.1) before the listening socket was bound.
pub fn build(settings: &Settings) -> Result<Service<DieselStore>, StartupError> {
    let args = settings.args();
    // Grant ids, session ids and the M6 nonce come from here.
    getrandom::fill(&mut [0u8; 16]).map_err(|e| StartupError::Random(e.to_string()))?;
    let mut trusted: Vec<VerifyingKey> = Vec::new();
    for path in &args.vendor_keys {
        let key =
            VerifyingKey::from_armoured(&read(path)?).map_err(|e| StartupError::VendorKey {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        trusted.push(key);
    }
    let tokens = Tokens::from_file_text(&read(&args.admin_token_file)?).map_err(|e| {
        StartupError::Token {
            path: args.admin_token_file.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let components = match &args.component_token_file {
        Some(path) => ComponentTokens::from_file(path).map_err(StartupError::ComponentTokens)?,
        None => ComponentTokens::none(),
    };
    let url = redact(&args.database);
    let storage_err = |e: &dyn std::fmt::Display| StartupError::Storage {
        url: url.clone(),
        reason: e.to_string(),
    };
    let store = open_store(
        &args.database,
        args.db_pool_size,
        args.db_statement_timeout,
        args.db_keepalive,
    )?;
    match store.check_schema().map_err(|e| storage_err(&e))? {
        SchemaState::Current => {}
        SchemaState::Empty { .. } => {
            let applied = store.migrate().map_err(|e| storage_err(&e))?;
            tracing::info!(?applied, "initialised an empty database");
        }
        SchemaState::Older { pending } if args.migrate => {
            store.migrate().map_err(|e| storage_err(&e))?;
            tracing::info!(applied = ?pending, "migrations applied");
        }
        SchemaState::Older { pending } => {
            return Err(storage_err(&format!(
                "the schema is older than this tenured (pending: {}); run `tenured migrate --database ...` or pass --migrate",
                pending.join(", ")
            )));
        }
    }
    let config = settings.manager();
    let manager = match args.group_commit {
        0 => Manager::new(store, config, trusted.clone()),
        n => Manager::new(store, config, trusted.clone()).with_group_commit(n),
    };
    if let Some(path) = &args.license {
        let shown = path.display().to_string();
        let text = read(path)?;
        // Refuse what could never serve; an expired license still installs
        // (if newer) so the operator sees it, and ping reports it.
        match license::verify_at(&text, &trusted, system_clock()) {
            Ok(_) | Err(LicenseError::Expired { .. }) => {}
            Err(e) => return Err(StartupError::License(e, shown)),
        }
        match manager.install_license(&text, InstallPolicy::IfNewer) {
            Ok(Installed::Installed { license_id }) => {
                tracing::info!(%license_id, file = %shown, "license installed from file")
            }
            Ok(Installed::KeptStored { license_id }) => tracing::info!(
                %license_id, file = %shown,
                "storage already has this license or a newer one; using the stored one"
            ),
            Err(tenure_storage::InstallError::Invalid(e)) => {
                return Err(StartupError::License(e, shown));
            }
            Err(e) => return Err(storage_err(&e)),
        }
    }
    match manager.license() {
        Ok(lic) => {
            tracing::info!(license_id = %lic.license_id, licensee = %lic.licensee, "license in use")
        }
        Err(ManagerError::NoLicense) => return Err(StartupError::NoLicense),
        Err(ManagerError::BadStoredLicense(e)) => {
            return Err(StartupError::StoredLicense(e.to_string()));
        }
        Err(e) => return Err(storage_err(&e)),
    }
    for c in tokens.callers() {
        tracing::info!(token = %c.name, role = %c.role, "admin token file: token");
    }
    if components.required() {
        tracing::info!(
            tokens = ?components.names(),
            "grant, renew and release need a component token (M10)"
        );
    } else {
        tracing::warn!(
            "no --component-token-file: any client on the network can take, renew and release slots (M10)"
        );
    }
    // Behind --allow-plaintext a TLS-terminating proxy faces the browser.
    let https = args.tls_cert.is_some() || args.allow_plaintext;
    let service = Service::new(manager, args.node_id(), tokens, Env::system())
        .with_secure_cookies(https)
        .with_component_tokens(components)
        .with_usage_retention(args.usage_retention);
    service.heartbeat();
    service.sweep();
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("postgres://u:p@db:5432/t"),
            "postgres://***@db:5432/t"
        );
        assert_eq!(redact("sqlite://tenure.db"), "sqlite://tenure.db");
    }
}
