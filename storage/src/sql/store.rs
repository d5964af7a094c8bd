//! [`DieselStore`]: the [`Store`] port over an r2d2 pool of diesel connections.

use super::connection::{
    AnyConnection, AnyManager, Backend, SessionSetup, Target, private_sqlite_file,
};
use super::errors::{Class, classify, pool_error, to_storage};
use super::migrate::{self, SchemaState};
use super::tx::{Conn, DieselTx};
use crate::port::{BatchTx, StorageError, StorageErrorKind, Store};
use diesel::Connection;
use diesel::r2d2::Pool;
use std::sync::Arc;
use std::time::Duration;
use tenure_core::UnixMillis;

/// A clock embedded SQLite reads as its storage clock in place of the host's.
pub type LocalClock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// How many times a transaction runs before a conflict is reported.
const MAX_ATTEMPTS: u32 = 5;

/// Pool and timeout settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections kept open (PostgreSQL, MySQL). SQLite uses one: it has a
    /// single writer, so threads queue for the connection instead.
    pub pool_size: u32,
    /// Longest wait for a connection (from the pool or a new one) before the
    /// call fails with an [`Unavailable`](crate::StorageErrorKind::Unavailable) error.
    pub connect_timeout: Duration,
    /// SQLite's wait for the write lock before it reports BUSY.
    pub sqlite_busy_timeout: Duration,
    /// The server's bound on each statement (PostgreSQL `statement_timeout`,
    /// MariaDB `max_statement_time`, MySQL `max_execution_time` and InnoDB's
    /// lock wait), and from it how long a session may sit idle before the
    /// server ends it (`connection::idle_limits`). Zero leaves the server's
    /// defaults: migrations run without a bound.
    pub statement_timeout: Duration,
    /// TCP keepalive on PostgreSQL and MySQL connections: probes after this
    /// long without traffic, every third of it, three unanswered end the
    /// connection; data unacknowledged for twice this long ends it too
    /// (TCP_USER_TIMEOUT). Zero leaves the system's timings.
    pub keepalive: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(15),
        }
    }
}

/// A SQLite, PostgreSQL or MySQL database behind a connection pool.
pub struct DieselStore {
    pool: Pool<AnyManager>,
    backend: Backend,
    local_clock: Option<LocalClock>,
}

impl std::fmt::Debug for DieselStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselStore")
            .field("backend", &self.backend)
            .field("state", &self.pool.state())
            .finish()
    }
}

/// Why one attempt of a transaction failed.
enum Fail {
    /// The closure (or a `Tx` method in it) failed.
    Closure { error: StorageError, retry: bool },
    /// BEGIN, COMMIT or ROLLBACK failed.
    Db(diesel::result::Error),
    /// BEGIN found the connection closed (the database restarted or failed
    /// over since it was last used): nothing ran, so another may try.
    Stale(diesel::result::Error),
    /// The request's deadline passed (`crate::deadline`): rolled back, or
    /// never begun; the connection is sound.
    Late,
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Fail::Db(e)
    }
}

fn body<T>(
    conn: Conn<'_>,
    local_clock: Option<LocalClock>,
    f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
) -> Result<T, Fail> {
    let mut tx = DieselTx::new(conn, local_clock);
    let out = f(&mut tx).map_err(|error| Fail::Closure {
        error,
        retry: tx.retry,
    })?;
    // The request was answered 503 meanwhile: roll back, never commit.
    if crate::deadline::passed() {
        return Err(Fail::Late);
    }
    Ok(out)
}

/// What a transaction answers once its request's deadline has passed.
fn late() -> StorageError {
    StorageError::unavailable("the request's deadline passed; nothing was committed")
}

impl DieselStore {
    /// Opens a pool on `url` (`sqlite://PATH`, `postgres://...`,
    /// `postgresql://...`, `mysql://...`). Fails with `Unavailable` within
    /// about `connect_timeout` when the database cannot be reached.
    pub fn connect(url: &str, opts: StoreOptions) -> Result<DieselStore, StorageError> {
        let target = Target::parse(url, opts.connect_timeout, opts.keepalive)
            .map_err(StorageError::unavailable)?;
        let backend = target.backend;
        if backend == Backend::Sqlite {
            private_sqlite_file(&target.driver_url).map_err(StorageError::unavailable)?;
        }
        // SQLite has one writer and every transaction here writes (BEGIN
        // IMMEDIATE): more connections would only queue in its busy handler.
        let size = match backend {
            Backend::Sqlite => 1,
            _ => opts.pool_size.max(1),
        };
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(opts.connect_timeout)
            .test_on_check_out(false)
            .error_handler(Box::new(LogPoolErrors))
            .connection_customizer(Box::new(SessionSetup {
                sqlite_busy_timeout: opts.sqlite_busy_timeout,
                statement_timeout: opts.statement_timeout,
            }))
            .build(AnyManager { target })
            .map_err(pool_error)?;
        Ok(DieselStore {
            pool,
            backend,
            local_clock: None,
        })
    }

    /// Embedded SQLite reads `clock` as its storage clock instead of the
    /// host's (T3): for tests that step it. PostgreSQL and MySQL always
    /// read their own.
    pub fn with_local_clock(mut self, clock: LocalClock) -> Self {
        self.local_clock = Some(clock);
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the embedded migrations the database lacks; returns their
    /// versions. Refuses (`Schema`) a database newer than this binary.
    pub fn migrate(&self) -> Result<Vec<String>, StorageError> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        // A migration may take longer than a request's statement: this
        // connection runs without the bound and is not pooled again.
        conn.gone = true;
        let unbounded = match self.backend {
            Backend::Postgres => &["SET statement_timeout = 0"][..],
            Backend::Mysql => &[
                "SET SESSION max_statement_time = 0",
                "SET SESSION max_execution_time = 0",
                "SET SESSION innodb_lock_wait_timeout = 50",
            ][..],
            Backend::Sqlite => &[][..],
        };
        for sql in unbounded {
            // Not every server knows every one (`SessionSetup`).
            let _ = diesel::connection::SimpleConnection::batch_execute(&mut conn.conn, sql);
        }
        migrate::run(&mut conn.conn)
    }

    /// Compares the database's applied migrations with the embedded ones.
    pub fn check_schema(&self) -> Result<SchemaState, StorageError> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        migrate::check(&mut conn.conn)
    }

    fn attempt<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, Fail> {
        // The wait for a connection ends with the request's deadline.
        let wait = match crate::deadline::remaining() {
            Some(left) => left.min(self.pool.connection_timeout()),
            None => self.pool.connection_timeout(),
        };
        if wait.is_zero() {
            return Err(Fail::Late);
        }
        let mut pooled = self.pool.get_timeout(wait).map_err(|e| Fail::Closure {
            error: pool_error(e),
            retry: false,
        })?;
        let mut began = false;
        let clock = self.local_clock.clone();
        let mut run = |conn: Conn<'_>| {
            began = true;
            body(conn, clock.clone(), f)
        };
        let result = match &mut pooled.conn {
            AnyConnection::Postgresql(c) => c.transaction(|c| run(Conn::Pg(c))),
            #[cfg(feature = "mysql")]
            AnyConnection::Mysql(c) => c.transaction(|c| run(Conn::My(c))),
            // BEGIN IMMEDIATE: the write lock up front, so two writers never
            // both read and then fail to upgrade.
            AnyConnection::Sqlite(c) => c.immediate_transaction(|c| run(Conn::Lite(c))),
        };
        match result {
            Err(Fail::Db(e)) if classify(&e) == Class::Unavailable => {
                pooled.gone = true;
                // Nothing ran: the connection had died while pooled.
                Err(if began { Fail::Db(e) } else { Fail::Stale(e) })
            }
            Err(Fail::Closure { error, retry })
                if error.kind() == StorageErrorKind::Unavailable =>
            {
                pooled.gone = true;
                Err(Fail::Closure { error, retry })
            }
            other => other,
        }
    }
}

impl Store for DieselStore {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut attempt = 0;
        // Every pooled connection may have died with the database it was
        // open to; each is tried once, then a new one.
        let mut stale_left = self.pool.max_size();
        loop {
            let (error, retry) = match self.attempt(f) {
                Ok(v) => return Ok(v),
                Err(Fail::Stale(e)) if stale_left > 0 => {
                    stale_left -= 1;
                    tracing::debug!(error = %e, "pooled connection was closed; trying another");
                    continue;
                }
                Err(Fail::Stale(e)) => (to_storage(e), false),
                Err(Fail::Late) => (late(), false),
                Err(Fail::Closure { error, retry }) => (error, retry),
                Err(Fail::Db(e)) => {
                    let retry = classify(&e) == Class::Retry;
                    (to_storage(e), retry)
                }
            };
            attempt += 1;
            if !retry {
                return Err(error);
            }
            if attempt >= MAX_ATTEMPTS {
                let detail = match error.kind() {
                    StorageErrorKind::Conflict | StorageErrorKind::Unavailable => {
                        error.message().to_owned()
                    }
                    _ => error.to_string(),
                };
                return Err(StorageError::conflict(format!(
                    "{detail} (gave up after {attempt} attempts)"
                ))
                .with_source(error));
            }
            tracing::debug!(attempt, %error, "storage conflict; running the transaction again");
            // A short, growing pause lets the winner commit.
            std::thread::sleep(Duration::from_millis(5u64 << attempt));
        }
    }
}

/// The pool opens connections in the background; without this, why it
/// cannot (a refused login, a handshake cut short) is never seen, only the
/// "timed out waiting for connection" of the requests that wait for one.
#[derive(Debug)]
struct LogPoolErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogPoolErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(%error, "cannot open a database connection");
    }
}
