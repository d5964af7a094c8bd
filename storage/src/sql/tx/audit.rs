//! The audit trail's table (PROTOCOL 6.3): rows appended by the action's own
//! transaction, read a page at a time by (at_ms, id), pruned in batches.

use super::{Conn, DieselTx, limit_i64};
use crate::port::{AuditCursor, Keyed, StorageError};
use crate::sql::connection::Backend;
use crate::sql::schema::audit_log;
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::{PgConnection, SqliteConnection, sql_query};
use tenure_core::UnixMillis;
use tenure_core::wire::{AuditEntry, AuditRow};

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow<'a> {
    at_ms: i64,
    token_name: &'a str,
    action: &'a str,
    target: &'a str,
    result: &'a str,
    detail: Option<&'a str>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRowDb {
    id: i64,
    at_ms: i64,
    token_name: String,
    action: String,
    target: String,
    result: String,
    detail: Option<String>,
}

impl AuditRowDb {
    fn decode(self) -> Keyed<AuditCursor, AuditRow> {
        let cursor = AuditCursor {
            at_ms: self.at_ms,
            id: self.id,
        };
        let entry = AuditEntry {
            token_name: self.token_name,
            action: self.action,
            target: self.target,
            result: self.result,
            detail: self.detail,
        };
        Keyed {
            cursor,
            row: AuditRow::new(UnixMillis(self.at_ms), entry),
        }
    }
}

impl DieselTx<'_> {
    pub(super) fn insert_audit(
        &mut self,
        at: UnixMillis,
        e: &AuditEntry,
    ) -> Result<(), StorageError> {
        let row = NewAuditRow {
            at_ms: at.0,
            token_name: &e.token_name,
            action: &e.action,
            target: &e.target,
            result: &e.result,
            detail: e.detail.as_deref(),
        };
        let r = on_conn!(self, c => diesel::insert_into(audit_log::table).values(&row).execute(c));
        self.expected_one("insert audit row", r)
    }

    pub(super) fn read_audit_page(
        &mut self,
        since: UnixMillis,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        // Past the cursor: a later time, or the same time and a later number.
        let (at, id) = after.map_or((i64::MIN, i64::MIN), |a| (a.at_ms, a.id));
        let r = on_conn!(self, c => audit_log::table
            .filter(audit_log::at_ms.ge(since.0))
            .filter(
                audit_log::at_ms
                    .gt(at)
                    .or(audit_log::at_ms.eq(at).and(audit_log::id.gt(id))),
            )
            .order((audit_log::at_ms.asc(), audit_log::id.asc()))
            .limit(limit_i64(limit))
            .select(AuditRowDb::as_select())
            .load(c));
        Ok(r.map_err(|e| self.fail(e))?
            .into_iter()
            .map(AuditRowDb::decode)
            .collect())
    }

    pub(super) fn read_audit_page_newest(
        &mut self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<AuditCursor, AuditRow>>, StorageError> {
        // Before the cursor: an earlier time, or the same time and an
        // earlier number. The (at_ms, id) index serves it read backwards.
        let (at, id) = before.map_or((i64::MAX, i64::MAX), |b| (b.at_ms, b.id));
        let r = on_conn!(self, c => audit_log::table
            .filter(
                audit_log::at_ms
                    .lt(at)
                    .or(audit_log::at_ms.eq(at).and(audit_log::id.lt(id))),
            )
            .order((audit_log::at_ms.desc(), audit_log::id.desc()))
            .limit(limit_i64(limit))
            .select(AuditRowDb::as_select())
            .load(c));
        Ok(r.map_err(|e| self.fail(e))?
            .into_iter()
            .map(AuditRowDb::decode)
            .collect())
    }

    pub(super) fn delete_audit_before(
        &mut self,
        before: UnixMillis,
        limit: usize,
    ) -> Result<usize, StorageError> {
        // MySQL takes LIMIT on a DELETE but not in an IN subquery; the
        // others take the subquery.
        let sql = match self.backend() {
            Backend::Mysql => "DELETE FROM audit_log WHERE at_ms < ? ORDER BY at_ms, id LIMIT ?",
            Backend::Postgres | Backend::Sqlite => {
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
                 WHERE at_ms < ? ORDER BY at_ms, id LIMIT ?)"
            }
        };
        let sql = self.sql(sql);
        let r = on_conn!(self, c => sql_query(sql.as_str())
            .bind::<BigInt, _>(before.0)
            .bind::<BigInt, _>(limit_i64(limit))
            .execute(c));
        r.map_err(|e| self.fail(e))
    }
}
