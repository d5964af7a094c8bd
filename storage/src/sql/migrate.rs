//! Embedded migrations, one folder per backend, and the schema version check.

use super::connection::AnyConnection;
use crate::port::StorageError;
use diesel::backend::Backend;
use diesel::migration::{Migration, MigrationSource, MigrationVersion};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::collections::BTreeSet;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
#[cfg(feature = "mysql")]
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Where the database's schema stands against this binary's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration this binary knows is applied, and no other.
    Current,
    /// No migration applied at all: a new database, safe to initialise.
    Empty { pending: Vec<String> },
    /// Some migrations applied, and some this binary knows still missing,
    /// oldest first: upgrading it is an operator's decision (`migrate`).
    Older { pending: Vec<String> },
}

fn schema_err(e: Box<dyn std::error::Error + Send + Sync>) -> StorageError {
    StorageError::schema(e.to_string()).with_source(e)
}

/// Versions of `source`, oldest first.
fn known_versions<DB: Backend>(source: &EmbeddedMigrations) -> Result<Vec<String>, StorageError>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let migrations: Vec<Box<dyn Migration<DB>>> =
        MigrationSource::<DB>::migrations(source).map_err(schema_err)?;
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

fn state_of<C, DB>(conn: &mut C, source: &EmbeddedMigrations) -> Result<SchemaState, StorageError>
where
    DB: Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let known = known_versions::<DB>(source)?;
    let applied: BTreeSet<String> = conn
        .applied_migrations()
        .map_err(|e| {
            StorageError::unavailable(format!("reading schema version: {e}")).with_source(e)
        })?
        .iter()
        .map(MigrationVersion::to_string)
        .collect();
    let unknown: Vec<&String> = applied.iter().filter(|v| !known.contains(v)).collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(StorageError::schema(format!(
            "database schema has migrations {}, this tenured knows up to {}; upgrade tenured",
            names.join(", "),
            known.last().map_or("none", String::as_str),
        )));
    }
    let pending: Vec<String> = known.into_iter().filter(|v| !applied.contains(v)).collect();
    if pending.is_empty() {
        Ok(SchemaState::Current)
    } else if applied.is_empty() {
        Ok(SchemaState::Empty { pending })
    } else {
        Ok(SchemaState::Older { pending })
    }
}

fn migrate_with<C, DB>(
    conn: &mut C,
    source: EmbeddedMigrations,
) -> Result<Vec<String>, StorageError>
where
    DB: Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    // Refuses a newer schema before touching anything.
    if let SchemaState::Current = state_of::<C, DB>(conn, &source)? {
        return Ok(Vec::new());
    }
    let done = conn
        .run_pending_migrations(source)
        .map_err(|e| StorageError::schema(format!("migration failed: {e}")).with_source(e))?;
    Ok(done.iter().map(MigrationVersion::to_string).collect())
}

pub(crate) fn check(conn: &mut AnyConnection) -> Result<SchemaState, StorageError> {
    match conn {
        AnyConnection::Postgresql(c) => state_of(c, &POSTGRES),
        #[cfg(feature = "mysql")]
        AnyConnection::Mysql(c) => state_of(c, &MYSQL),
        AnyConnection::Sqlite(c) => state_of(c, &SQLITE),
    }
}

pub(crate) fn run(conn: &mut AnyConnection) -> Result<Vec<String>, StorageError> {
    match conn {
        AnyConnection::Postgresql(c) => migrate_with(c, POSTGRES),
        #[cfg(feature = "mysql")]
        AnyConnection::Mysql(c) => migrate_with(c, MYSQL),
        AnyConnection::Sqlite(c) => migrate_with(c, SQLITE),
    }
}
