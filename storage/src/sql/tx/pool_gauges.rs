//! The per-pool gauges the sweep refreshes: what each pool holds, and how
//! many of its held grants have not been renewed for over `lease_ttl`.

use super::pools::totals;
use super::{Conn, DieselTx};
use crate::port::{PoolInGrace, PoolTotalsRow, StorageError};
use crate::sql::schema::pools;
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{BigInt, Text};
use tenure_core::UnixMillis;
use tenure_core::names::Name;
use tenure_core::wire::PoolKey;

#[derive(QueryableByName)]
struct PoolCountsDb {
    #[diesel(sql_type = Text)]
    environment: String,
    #[diesel(sql_type = Text)]
    product: String,
    #[diesel(sql_type = BigInt)]
    servers: i64,
    #[diesel(sql_type = BigInt)]
    total_cores: i64,
}

/// A pool's key as stored in `table`.
fn pool_key(table: &str, environment: &str, product: &str) -> Result<PoolKey, StorageError> {
    let corrupt = |e| StorageError::corrupt(format!("{table}: {e}"));
    Ok(PoolKey {
        environment: Name::parse("environment", environment).map_err(corrupt)?,
        product: Name::parse("product", product).map_err(corrupt)?,
    })
}

impl DieselTx<'_> {
    pub(super) fn read_pool_totals(
        &mut self,
        now: UnixMillis,
    ) -> Result<Vec<PoolTotalsRow>, StorageError> {
        // The pool rows' running counts less the rows past their deadline:
        // the gauges refresh every sweep, and must not count every grant.
        let counted = on_conn!(self, c => pools::table
            .select((pools::environment, pools::product, pools::servers, pools::total_cores))
            .load::<(String, String, i64, i64)>(c));
        let counted = counted.map_err(|e| self.fail(e))?;
        let sql = self.sql(&format!(
            "SELECT environment, product, COUNT(*) AS servers, \
             CAST(COALESCE(SUM(cores), 0) AS {}) AS total_cores \
             FROM grants WHERE held_until <= ? GROUP BY environment, product",
            self.bigint_cast()
        ));
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<BigInt, _>(now.0)
            .load::<PoolCountsDb>(c));
        let past = r.map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(counted.len());
        for (environment, product, servers, cores) in counted {
            let (mut servers, mut cores) = (servers, cores);
            if let Some(p) = past
                .iter()
                .find(|p| p.environment == environment && p.product == product)
            {
                servers -= p.servers;
                cores -= p.total_cores;
            }
            if servers == 0 && cores == 0 {
                continue;
            }
            out.push(PoolTotalsRow {
                pool: pool_key("pools", &environment, &product)?,
                totals: totals(servers, cores)?,
            });
        }
        out.sort_by(|a, b| a.pool.cmp(&b.pool));
        Ok(out)
    }

    pub(super) fn read_pool_in_grace(
        &mut self,
        now: UnixMillis,
        stale_before: UnixMillis,
    ) -> Result<Vec<PoolInGrace>, StorageError> {
        let sql = self.sql(&format!(
            "SELECT environment, product, COUNT(*) AS servers, \
             CAST(0 AS {}) AS total_cores FROM grants \
             WHERE held_until > ? AND last_renewed < ? GROUP BY environment, product",
            self.bigint_cast()
        ));
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<BigInt, _>(now.0)
            .bind::<BigInt, _>(stale_before.0)
            .load::<PoolCountsDb>(c));
        let rows = r.map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(PoolInGrace {
                pool: pool_key("grants", &row.environment, &row.product)?,
                in_grace: u64::try_from(row.servers).unwrap_or(0),
            });
        }
        out.sort_by(|a, b| a.pool.cmp(&b.pool));
        Ok(out)
    }
}
