//! The port's transactions over one open diesel transaction. Queries are
//! written once with diesel's DSL and compiled for each backend (`on_conn!`);
//! the few statements whose SQL differs per database are raw SQL chosen by
//! backend (`dialect`, and `arrays` for PostgreSQL's batch forms). Each
//! submodule holds the statements of one table or concern; `port` maps the
//! [`Tx`](crate::port::Tx) and [`BatchTx`](crate::port::BatchTx) methods
//! onto them.

use super::connection::Backend;
use super::errors::{Class, classify, to_storage};
use super::rows::GrantRow;
use super::store::LocalClock;
use crate::port::StorageError;
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use tenure_core::manager::HeldGrant;

/// The inner connection of an open transaction.
pub(crate) enum Conn<'a> {
    Pg(&'a mut PgConnection),
    #[cfg(feature = "mysql")]
    My(&'a mut MysqlConnection),
    Lite(&'a mut SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection, whatever it is.
macro_rules! on_conn {
    ($self:ident, $c:ident => $body:expr) => {
        match &mut $self.conn {
            Conn::Pg(inner) => {
                let $c: &mut PgConnection = inner;
                $body
            }
            #[cfg(feature = "mysql")]
            Conn::My(inner) => {
                let $c: &mut MysqlConnection = inner;
                $body
            }
            Conn::Lite(inner) => {
                let $c: &mut SqliteConnection = inner;
                $body
            }
        }
    };
}

/// One transaction. `retry` records that a statement failed in a way that
/// running the whole transaction again can cure (deadlock, serialization).
pub(crate) struct DieselTx<'a> {
    conn: Conn<'a>,
    pub retry: bool,
    /// The clock embedded SQLite reads instead of the host's, if given.
    local_clock: Option<LocalClock>,
    /// The installed license's id as this transaction last read or wrote
    /// it (`Some(None)`: none installed), so that ending a grant does not
    /// read it again to stamp the usage row (M8).
    license_seen: Option<Option<String>>,
}

mod arrays;
mod audit;
mod bulk;
mod clock;
mod dialect;
mod grant_reads;
mod grant_writes;
mod license;
mod pool_gauges;
mod pools;
mod port;
mod registry;
mod rollup;
mod usage;

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl<'a> DieselTx<'a> {
    pub fn new(conn: Conn<'a>, local_clock: Option<LocalClock>) -> Self {
        Self {
            conn,
            retry: false,
            local_clock,
            license_seen: None,
        }
    }

    fn backend(&self) -> Backend {
        match self.conn {
            Conn::Pg(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Conn::My(_) => Backend::Mysql,
            Conn::Lite(_) => Backend::Sqlite,
        }
    }

    /// Maps a database error, remembering whether a retry may cure it.
    fn fail(&mut self, e: diesel::result::Error) -> StorageError {
        if classify(&e) == Class::Retry {
            self.retry = true;
        }
        to_storage(e)
    }

    fn load_grants(
        &mut self,
        rows: QueryResult<Vec<GrantRow>>,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        rows.map_err(|e| self.fail(e))?
            .into_iter()
            .map(GrantRow::decode)
            .collect()
    }

    fn expected_one(&mut self, what: &str, r: QueryResult<usize>) -> Result<(), StorageError> {
        self.expected_rows(what, r, 1)
    }

    /// A write that must change exactly `want` rows.
    fn expected_rows(
        &mut self,
        what: &str,
        r: QueryResult<usize>,
        want: usize,
    ) -> Result<(), StorageError> {
        match r.map_err(|e| self.fail(e))? {
            n if n == want => Ok(()),
            n => Err(StorageError::corrupt(format!(
                "{what}: {n} rows changed, {want} expected"
            ))),
        }
    }
}
