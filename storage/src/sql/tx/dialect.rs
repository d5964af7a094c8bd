//! What the SQL of one statement differs in from one database to the
//! next: placeholders, the clock expression, the 64-bit integer type, and
//! the insert that leaves an existing row alone.

use super::DieselTx;
use crate::sql::connection::Backend;
use std::borrow::Cow;

impl DieselTx<'_> {
    /// `sql` written with `?` placeholders, as this backend wants them.
    pub(super) fn sql(&self, sql: &str) -> String {
        if self.backend() != Backend::Postgres {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        out
    }

    /// The storage clock (T3) in milliseconds, as an SQL expression.
    pub(super) fn now_expr(&self) -> Cow<'static, str> {
        match self.backend() {
            Backend::Postgres => "(extract(epoch from clock_timestamp()) * 1000)::bigint".into(),
            Backend::Mysql => "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)".into(),
            // Embedded SQLite: the local clock, as PROTOCOL T3 says.
            Backend::Sqlite => match &self.local_clock {
                Some(clock) => format!("CAST({} AS INTEGER)", clock().0).into(),
                None => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)".into(),
            },
        }
    }

    /// The SQL type name that `CAST(... AS _)` to a 64-bit integer takes.
    pub(super) fn bigint_cast(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => "BIGINT",
            Backend::Mysql => "SIGNED",
            Backend::Sqlite => "INTEGER",
        }
    }

    /// Inserts a pool's row (`environment`, `product` bound) unless it is
    /// there already: racing creators are fine, all but one insert nothing.
    pub(super) fn insert_pool_sql(&self) -> String {
        let insert = match self.backend() {
            Backend::Postgres => {
                "INSERT INTO pools (environment, product, version) VALUES (?, ?, 0) \
                 ON CONFLICT DO NOTHING"
            }
            Backend::Mysql => {
                "INSERT IGNORE INTO pools (environment, product, version) VALUES (?, ?, 0)"
            }
            Backend::Sqlite => {
                "INSERT OR IGNORE INTO pools (environment, product, version) VALUES (?, ?, 0)"
            }
        };
        self.sql(insert)
    }
}
