//! How a diesel or pool error becomes a [`StorageError`], and which ones the
//! transaction loop retries.

use crate::port::{StorageError, StorageErrorKind};
use diesel::result::{DatabaseErrorKind, Error};

/// What to do about a database error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Serialization failure, deadlock, lock wait timeout, SQLite busy: run
    /// the transaction again.
    Retry,
    /// The connection is gone or cannot be made.
    Unavailable,
    /// A row that does not decode.
    Corrupt,
    /// Anything else the database said.
    Other,
}

/// Message fragments of errors diesel reports as `Unknown` that are in fact
/// transient conflicts (PostgreSQL 40P01, MySQL 1205, SQLite BUSY/LOCKED).
const RETRY_MESSAGES: &[&str] = &[
    "deadlock detected",
    "deadlock found",
    "lock wait timeout exceeded",
    "database is locked",
    "database table is locked",
    "database is busy",
    "could not serialize access",
];

/// Message fragments of errors that mean the server went away.
const GONE_MESSAGES: &[&str] = &[
    "server closed the connection",
    "terminating connection",
    "no connection to the server",
    "connection refused",
    "could not connect",
    "server has gone away",
    "lost connection",
    "can't connect",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection to server",
    "broken pipe",
    "connection reset",
];

fn matches_any(message: &str, fragments: &[&str]) -> bool {
    let lower = message.to_ascii_lowercase();
    fragments.iter().any(|f| lower.contains(f))
}

pub(crate) fn classify(e: &Error) -> Class {
    match e {
        Error::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::SerializationFailure => Class::Retry,
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                Class::Unavailable
            }
            _ if matches_any(info.message(), RETRY_MESSAGES) => Class::Retry,
            _ if matches_any(info.message(), GONE_MESSAGES) => Class::Unavailable,
            _ => Class::Other,
        },
        Error::DeserializationError(_) => Class::Corrupt,
        Error::BrokenTransactionManager | Error::AlreadyInTransaction => Class::Unavailable,
        Error::RollbackErrorOnCommit {
            commit_error,
            rollback_error,
        } => match (classify(commit_error), classify(rollback_error)) {
            (_, Class::Unavailable) | (Class::Unavailable, _) => Class::Unavailable,
            (c, _) => c,
        },
        other if matches_any(&other.to_string(), GONE_MESSAGES) => Class::Unavailable,
        _ => Class::Other,
    }
}

/// The [`StorageError`] for `e`. Errors that survive as `Retry` here are the
/// ones the loop gave up on.
pub(crate) fn to_storage(e: Error) -> StorageError {
    let kind = match classify(&e) {
        Class::Retry => StorageErrorKind::Conflict,
        Class::Corrupt => StorageErrorKind::Corrupt,
        // An unexpected database error is reported as an outage: the caller
        // answers 503 and retries; the message names the cause for the log.
        Class::Unavailable | Class::Other => StorageErrorKind::Unavailable,
    };
    StorageError::new(kind, e.to_string()).with_source(e)
}

pub(crate) fn pool_error(e: diesel::r2d2::PoolError) -> StorageError {
    StorageError::unavailable(format!("no database connection: {e}")).with_source(e)
}
