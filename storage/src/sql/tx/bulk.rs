//! Statements over many rows at once, so that a batch of requests costs a
//! few round trips to the database rather than a few per request. Each
//! bounds its parameters (a few hundred to a thousand per statement), which
//! every backend takes.

use super::{Conn, DieselTx, arrays};
use crate::port::StorageError;
use crate::sql::rows::GrantRow;
use crate::sql::schema::grants;
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{PgConnection, SqliteConnection, sql_query};
use tenure_core::manager::HeldGrant;
use tenure_core::wire::Instance;

/// New grants per INSERT: 12 parameters each (on PostgreSQL, 12 arrays of
/// this length).
const INSERT_CHUNK: usize = 64;
/// Instances per lookup by key (PostgreSQL): 4 arrays of this length.
const LOOKUP_CHUNK: usize = 64;
/// Host names per lookup by host.
const HOSTS_CHUNK: usize = 256;

impl DieselTx<'_> {
    /// One UPDATE for many renewals: on PostgreSQL a join with the arrays
    /// of new values, elsewhere `CASE grant_id WHEN ? THEN ? ... END` per
    /// column. `rows` names each grant once.
    pub(super) fn renew_rows(
        &mut self,
        rows: &[(String, i64, i64, Option<i64>)],
    ) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let r = match &mut self.conn {
            Conn::Pg(c) => arrays::renew(c, rows),
            _ => self.renew_rows_case(rows),
        };
        self.expected_rows("renew grants", r, rows.len())
    }

    fn renew_rows_case(&mut self, rows: &[(String, i64, i64, Option<i64>)]) -> QueryResult<usize> {
        let case = |col: &str| {
            let mut out = format!("{col} = CASE grant_id");
            for _ in rows {
                out.push_str(" WHEN ? THEN ?");
            }
            out.push_str(" END");
            out
        };
        let ids = vec!["?"; rows.len()].join(", ");
        let sql = self.sql(&format!(
            "UPDATE grants SET {}, {}, {} WHERE grant_id IN ({ids})",
            case("last_renewed"),
            case("held_until"),
            case("client_skew_ms"),
        ));
        on_conn!(self, c => {
            let mut q = sql_query(sql.as_str()).into_boxed();
            for (id, last, _, _) in rows {
                q = q.bind::<Text, _>(id.as_str()).bind::<BigInt, _>(*last);
            }
            for (id, _, until, _) in rows {
                q = q.bind::<Text, _>(id.as_str()).bind::<BigInt, _>(*until);
            }
            for (id, _, _, skew) in rows {
                q = q.bind::<Text, _>(id.as_str()).bind::<Nullable<BigInt>, _>(*skew);
            }
            for (id, _, _, _) in rows {
                q = q.bind::<Text, _>(id.as_str());
            }
            q.execute(c)
        })
    }

    /// Inserts `new` grants with one multi-row INSERT per chunk, then moves
    /// each pool's counts once (the pool row must stay equal to its grants
    /// rows, as one insert at a time keeps it).
    pub(super) fn insert_grants(&mut self, new: &[&HeldGrant]) -> Result<(), StorageError> {
        for chunk in new.chunks(INSERT_CHUNK) {
            let rows = chunk
                .iter()
                .map(|g| GrantRow::encode(g))
                .collect::<Result<Vec<_>, _>>()?;
            self.insert_rows(&rows)?;
        }
        let mut by_pool: Vec<&HeldGrant> = new.to_vec();
        by_pool.sort_unstable_by(|a, b| {
            (&a.instance.environment, &a.instance.product)
                .cmp(&(&b.instance.environment, &b.instance.product))
        });
        let same_pool = |a: &&HeldGrant, b: &&HeldGrant| {
            a.instance.environment == b.instance.environment
                && a.instance.product == b.instance.product
        };
        for pool in by_pool.chunk_by(same_pool) {
            let servers = i64::try_from(pool.len()).unwrap_or(i64::MAX);
            let cores: i64 = pool.iter().map(|g| i64::from(g.facts.cores)).sum();
            self.count_in_pool(&pool[0].instance, servers, cores)?;
        }
        Ok(())
    }

    fn insert_rows(&mut self, rows: &[GrantRow]) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let r = match &mut self.conn {
            Conn::Pg(c) => arrays::insert(c, rows),
            _ => self.insert_rows_values(rows),
        };
        self.expected_rows("insert grants", r, rows.len())
    }

    fn insert_rows_values(&mut self, rows: &[GrantRow]) -> QueryResult<usize> {
        let one = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let sql = self.sql(&format!(
            "INSERT INTO grants (grant_id, environment, product, hostname, port, cores, ip, \
             version, granted_at, last_renewed, held_until, client_skew_ms) VALUES {}",
            vec![one; rows.len()].join(", ")
        ));
        on_conn!(self, c => {
            let mut q = sql_query(sql.as_str()).into_boxed();
            for row in rows {
                q = q
                    .bind::<Text, _>(row.grant_id.as_str())
                    .bind::<Text, _>(row.environment.as_str())
                    .bind::<Text, _>(row.product.as_str())
                    .bind::<Text, _>(row.hostname.as_str())
                    .bind::<Integer, _>(row.port)
                    .bind::<Integer, _>(row.cores)
                    .bind::<Nullable<Text>, _>(row.ip.as_deref())
                    .bind::<Nullable<Text>, _>(row.version.as_deref())
                    .bind::<BigInt, _>(row.granted_at)
                    .bind::<BigInt, _>(row.last_renewed)
                    .bind::<BigInt, _>(row.held_until)
                    .bind::<Nullable<BigInt>, _>(row.client_skew_ms);
            }
            q.execute(c)
        })
    }

    /// The grants rows of `instances`, in no particular order.
    pub(super) fn rows_of_instances(
        &mut self,
        instances: &[Instance],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let mut asked: Vec<&Instance> = instances.iter().collect();
        asked.sort_unstable();
        asked.dedup();
        let by_key = match &mut self.conn {
            // One probe of the unique key per instance, whatever the
            // statistics: see `arrays::rows_by_key`.
            Conn::Pg(c) => Some(
                asked
                    .chunks(LOOKUP_CHUNK)
                    .map(|chunk| arrays::rows_by_key(c, chunk))
                    .collect::<QueryResult<Vec<_>>>()
                    .map(|chunks| chunks.into_iter().flatten().collect()),
            ),
            _ => None,
        };
        if let Some(rows) = by_key {
            return self.load_grants(rows);
        }
        let mut out = Vec::with_capacity(asked.len());
        let same_pool =
            |a: &&Instance, b: &&Instance| a.environment == b.environment && a.product == b.product;
        for pool in asked.chunk_by(same_pool) {
            let mut hosts: Vec<&str> = pool.iter().map(|i| i.hostname.as_str()).collect();
            hosts.dedup();
            // A host may run several instances: keep only the ports asked for.
            for g in self.pool_rows_on_hosts(pool[0], &hosts)? {
                if pool.binary_search(&&g.instance).is_ok() {
                    out.push(g);
                }
            }
        }
        Ok(out)
    }

    /// SQLite and MariaDB: the rows of a pool on any of `hosts`, every port,
    /// in one read the instance's unique index serves by its prefix.
    fn pool_rows_on_hosts(
        &mut self,
        of_pool: &Instance,
        hosts: &[&str],
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let (env, product) = (of_pool.environment.as_str(), of_pool.product.as_str());
        let mut out = Vec::new();
        for chunk in hosts.chunks(HOSTS_CHUNK) {
            let rows = on_conn!(self, c => grants::table
                .filter(grants::environment.eq(env))
                .filter(grants::product.eq(product))
                .filter(grants::hostname.eq_any(chunk))
                .select(GrantRow::as_select())
                .load(c));
            out.extend(self.load_grants(rows)?);
        }
        Ok(out)
    }
}
