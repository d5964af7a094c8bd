//! PostgreSQL's forms of the batch statements: one array parameter per
//! column, joined with `unnest`, in place of a few parameters per row. The
//! statement's text is the same whatever the batch's size, and PostgreSQL
//! parses and plans it in a fraction of the time it takes for a statement
//! with hundreds of parameters (`BENCHMARKS.md`, "Fewer, fixed statements
//! on PostgreSQL").

use crate::sql::rows::GrantRow;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};
use diesel::{PgConnection, sql_query};
use tenure_core::wire::Instance;

/// `rows` names each grant once: (id, last renewed, held until, skew).
pub(super) fn renew(
    c: &mut PgConnection,
    rows: &[(String, i64, i64, Option<i64>)],
) -> QueryResult<usize> {
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let last: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let until: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let skew: Vec<Option<i64>> = rows.iter().map(|r| r.3).collect();
    sql_query(
        "UPDATE grants AS g SET last_renewed = v.last_renewed, held_until = v.held_until, \
         client_skew_ms = v.client_skew_ms \
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
         AS v(grant_id, last_renewed, held_until, client_skew_ms) \
         WHERE g.grant_id = v.grant_id",
    )
    .bind::<Array<Text>, _>(ids)
    .bind::<Array<BigInt>, _>(last)
    .bind::<Array<BigInt>, _>(until)
    .bind::<Array<Nullable<BigInt>>, _>(skew)
    .execute(c)
}

pub(super) fn insert(c: &mut PgConnection, rows: &[GrantRow]) -> QueryResult<usize> {
    let text = |f: fn(&GrantRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let opt_text = |f: fn(&GrantRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let int = |f: fn(&GrantRow) -> i32| rows.iter().map(f).collect::<Vec<i32>>();
    let big = |f: fn(&GrantRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let skew: Vec<Option<i64>> = rows.iter().map(|r| r.client_skew_ms).collect();
    sql_query(
        "INSERT INTO grants (grant_id, environment, product, hostname, port, cores, ip, \
         version, granted_at, last_renewed, held_until, client_skew_ms) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], \
         $6::int4[], $7::text[], $8::text[], $9::int8[], $10::int8[], $11::int8[], $12::int8[])",
    )
    .bind::<Array<Text>, _>(text(|r| r.grant_id.as_str()))
    .bind::<Array<Text>, _>(text(|r| r.environment.as_str()))
    .bind::<Array<Text>, _>(text(|r| r.product.as_str()))
    .bind::<Array<Text>, _>(text(|r| r.hostname.as_str()))
    .bind::<Array<Integer>, _>(int(|r| r.port))
    .bind::<Array<Integer>, _>(int(|r| r.cores))
    .bind::<Array<Nullable<Text>>, _>(opt_text(|r| r.ip.as_deref()))
    .bind::<Array<Nullable<Text>>, _>(opt_text(|r| r.version.as_deref()))
    .bind::<Array<BigInt>, _>(big(|r| r.granted_at))
    .bind::<Array<BigInt>, _>(big(|r| r.last_renewed))
    .bind::<Array<BigInt>, _>(big(|r| r.held_until))
    .bind::<Array<Nullable<BigInt>>, _>(skew)
    .execute(c)
}

/// The grants rows of `instances`. Each key is looked up in a LATERAL
/// subquery that names the whole unique key, so the plan is one index
/// probe per instance whatever the table's statistics say: with young
/// statistics PostgreSQL served a pool-wide `hostname IN (...)` read by
/// scanning the whole pool.
pub(super) fn rows_by_key(
    c: &mut PgConnection,
    instances: &[&Instance],
) -> QueryResult<Vec<GrantRow>> {
    let text = |f: fn(&Instance) -> &str| instances.iter().map(|i| f(i)).collect::<Vec<&str>>();
    sql_query(
        "SELECT g.grant_id, g.environment, g.product, g.hostname, g.port, g.cores, g.ip, \
         g.version, g.granted_at, g.last_renewed, g.held_until, g.client_skew_ms \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[]) \
         AS k(environment, product, hostname, port) \
         CROSS JOIN LATERAL (SELECT * FROM grants WHERE grants.environment = k.environment \
         AND grants.product = k.product AND grants.hostname = k.hostname \
         AND grants.port = k.port) AS g",
    )
    .bind::<Array<Text>, _>(text(|i| i.environment.as_str()))
    .bind::<Array<Text>, _>(text(|i| i.product.as_str()))
    .bind::<Array<Text>, _>(text(|i| i.hostname.as_str()))
    .bind::<Array<Integer>, _>(
        instances
            .iter()
            .map(|i| i32::from(i.port))
            .collect::<Vec<i32>>(),
    )
    .load(c)
}

/// A grants row read together with the storage clock, license stamp and
/// stored clock.
#[derive(QueryableByName)]
pub(super) struct GrantNowRow {
    #[diesel(embed)]
    pub grant: GrantRow,
    #[diesel(embed)]
    pub clock: super::clock::NowStampRow,
}

/// The grants among `ids`, each row carrying the clock, the license stamp
/// and the stored clock (`stamp_sql` selects `now_ms, license_id,
/// issued_at, forward_ms, high_water_ms, last_step`), read once in a
/// materialised CTE: one instant for every row. No row when no grant is
/// found: the caller reads the clock alone then.
pub(super) fn grants_and_now(
    c: &mut PgConnection,
    ids: &[String],
    stamp_sql: &str,
) -> QueryResult<Vec<GrantNowRow>> {
    let sql = format!(
        "WITH c AS MATERIALIZED ({stamp_sql}) \
         SELECT g.grant_id, g.environment, g.product, g.hostname, g.port, g.cores, g.ip, \
         g.version, g.granted_at, g.last_renewed, g.held_until, g.client_skew_ms, \
         c.now_ms, c.license_id, c.issued_at, c.forward_ms, c.high_water_ms, c.last_step \
         FROM grants AS g CROSS JOIN c WHERE g.grant_id = ANY($1::text[])"
    );
    sql_query(sql).bind::<Array<Text>, _>(ids).load(c)
}
