//! A storage failure: its kind, which decides how a caller answers, a
//! message for the log, and the error that caused it, if another did.

use std::sync::Arc;

/// What kind of failure a [`StorageError`] is. Every kind is retryable from
/// the caller's point of view except `Schema`, which needs an operator, and
/// `Internal`, which needs a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageErrorKind {
    /// The database cannot be reached or dropped the connection; the pool
    /// reconnects by itself. Maps to 503 `storage_unavailable`.
    Unavailable,
    /// Serialization failure or deadlock that survived the bounded retries.
    Conflict,
    /// The schema is newer than this binary, or older and not migrated.
    Schema,
    /// A row that cannot be decoded (corrupt or written by a newer version),
    /// or rows that contradict each other.
    Corrupt,
    /// Tenure broke one of its own rules: a fault in this binary, not in the
    /// database. Maps to 500 `internal`.
    Internal,
}

impl std::fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "storage unavailable",
            Self::Conflict => "storage conflict after retries",
            Self::Schema => "schema",
            Self::Corrupt => "corrupt row",
            Self::Internal => "internal error",
        })
    }
}

/// The error behind a [`StorageError`]. Shared, not owned: a batch that
/// fails answers each of its requests with the same error.
type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure.
///
/// The message names the cause as well: logs print the error alone, and the
/// database's own words are what an operator needs there.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StorageError {
    kind: StorageErrorKind,
    message: String,
    #[source]
    source: Option<Cause>,
}

impl StorageError {
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Unavailable, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Conflict, message)
    }

    pub fn schema(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Schema, message)
    }

    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Corrupt, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Internal, message)
    }

    /// This error, caused by `source`.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// What failed, without the kind's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Two errors are equal when they say the same: the cause is not comparable,
/// and its text is in the message already.
impl PartialEq for StorageError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for StorageError {}
