//! Usage history (M8): the row a grant leaves when it ends, stamped with
//! the installed license, and the reads and deletes reports and retention
//! make of it (6.3).

use super::{Conn, DieselTx, limit_i64};
use crate::port::{Keyed, StorageError, UsageCursor};
use crate::sql::rows::UsageRowDb;
use crate::sql::schema::{grants, usage_history};
use diesel::prelude::*;
use tenure_core::wire::UsageRow;
use tenure_core::{GrantId, UnixMillis};

impl DieselTx<'_> {
    pub(super) fn read_ended(&mut self, id: GrantId) -> Result<Option<UsageRow>, StorageError> {
        let id = id.to_string();
        let r = on_conn!(self, c => usage_history::table
            .filter(usage_history::grant_id.eq(&id))
            .order(usage_history::id.desc())
            .select(UsageRowDb::as_select())
            .first(c)
            .optional());
        r.map_err(|e| self.fail(e))?
            .map(UsageRowDb::decode)
            .transpose()
    }

    pub(super) fn read_usage_page(
        &mut self,
        since: UnixMillis,
        after: Option<UsageCursor>,
        limit: usize,
    ) -> Result<Vec<Keyed<UsageCursor, UsageRow>>, StorageError> {
        // Past the cursor: a later end, or the same end and a later number.
        let (ended, id) = after.map_or((i64::MIN, i64::MIN), |a| (a.ended_ms, a.id));
        let r = on_conn!(self, c => usage_history::table
            .filter(usage_history::ended_ms.ge(since.0))
            .filter(
                usage_history::ended_ms
                    .gt(ended)
                    .or(usage_history::ended_ms.eq(ended).and(usage_history::id.gt(id))),
            )
            .order((usage_history::ended_ms.asc(), usage_history::id.asc()))
            .limit(limit_i64(limit))
            .select((usage_history::id, UsageRowDb::as_select()))
            .load::<(i64, UsageRowDb)>(c));
        r.map_err(|e| self.fail(e))?
            .into_iter()
            .map(|(id, row)| {
                let cursor = UsageCursor {
                    ended_ms: row.ended_ms,
                    id,
                };
                Ok(Keyed {
                    cursor,
                    row: row.decode()?,
                })
            })
            .collect()
    }

    pub(super) fn read_usage_overlapping(
        &mut self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<UsageRow>, StorageError> {
        let r = on_conn!(self, c => usage_history::table
            .filter(usage_history::first_request_ms.lt(to.0))
            .filter(usage_history::ended_ms.ge(from.0))
            .select(UsageRowDb::as_select())
            .load(c));
        r.map_err(|e| self.fail(e))?
            .into_iter()
            .map(UsageRowDb::decode)
            .collect()
    }

    pub(super) fn read_first_usage(&mut self) -> Result<Option<UnixMillis>, StorageError> {
        let ended = on_conn!(self, c => usage_history::table
            .select(diesel::dsl::min(usage_history::first_request_ms))
            .first::<Option<i64>>(c));
        let ended = ended.map_err(|e| self.fail(e))?;
        let held = on_conn!(self, c => grants::table
            .select(diesel::dsl::min(grants::granted_at))
            .first::<Option<i64>>(c));
        let held = held.map_err(|e| self.fail(e))?;
        Ok(ended.into_iter().chain(held).min().map(UnixMillis))
    }

    pub(super) fn delete_usage_before(
        &mut self,
        before: UnixMillis,
        limit: usize,
    ) -> Result<usize, StorageError> {
        // Ids first, then delete them: MySQL takes no LIMIT in a subquery,
        // SQLite no LIMIT on DELETE.
        let ids = on_conn!(self, c => usage_history::table
            .filter(usage_history::ended_ms.lt(before.0))
            .order((usage_history::ended_ms.asc(), usage_history::id.asc()))
            .limit(limit_i64(limit))
            .select(usage_history::id)
            .load::<i64>(c));
        let ids = ids.map_err(|e| self.fail(e))?;
        if ids.is_empty() {
            return Ok(0);
        }
        let r = on_conn!(self, c => diesel::delete(
            usage_history::table.filter(usage_history::id.eq_any(&ids)),
        )
        .execute(c));
        r.map_err(|e| self.fail(e))
    }
}
