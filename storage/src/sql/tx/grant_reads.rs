//! Reads of the grants table: one grant, many, by instance, past their
//! deadline, pages for the admin listing, and a batch's grants read with
//! the clock (one statement on PostgreSQL).

use super::clock::now_and_stamp_sql;
use super::{Conn, DieselTx, arrays, limit_i64};
use crate::port::{GrantsAndNow, StorageError};
use crate::sql::rows::GrantRow;
use crate::sql::schema::grants;
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use tenure_core::manager::HeldGrant;
use tenure_core::wire::Instance;
use tenure_core::{GrantId, UnixMillis};

impl DieselTx<'_> {
    pub(super) fn read_grant(&mut self, id: GrantId) -> Result<Option<HeldGrant>, StorageError> {
        let id = id.to_string();
        let rows = on_conn!(self, c => grants::table
            .filter(grants::grant_id.eq(&id))
            .select(GrantRow::as_select())
            .load(c));
        Ok(self.load_grants(rows)?.into_iter().next())
    }

    pub(super) fn read_grants(&mut self, ids: &[GrantId]) -> Result<Vec<HeldGrant>, StorageError> {
        let mut out = Vec::with_capacity(ids.len());
        // Bounded IN lists: every backend takes a few hundred parameters.
        for chunk in ids.chunks(256) {
            let keys: Vec<String> = chunk.iter().map(|id| id.to_string()).collect();
            let rows = on_conn!(self, c => grants::table
                .filter(grants::grant_id.eq_any(&keys))
                .select(GrantRow::as_select())
                .load(c));
            out.extend(self.load_grants(rows)?);
        }
        Ok(out)
    }

    pub(super) fn read_grant_by_instance(
        &mut self,
        instance: &Instance,
    ) -> Result<Option<HeldGrant>, StorageError> {
        let port = i32::from(instance.port);
        let rows = on_conn!(self, c => grants::table
            .filter(grants::environment.eq(instance.environment.as_str()))
            .filter(grants::product.eq(instance.product.as_str()))
            .filter(grants::hostname.eq(instance.hostname.as_str()))
            .filter(grants::port.eq(port))
            .select(GrantRow::as_select())
            .load(c));
        Ok(self.load_grants(rows)?.into_iter().next())
    }

    pub(super) fn read_expired(
        &mut self,
        now: UnixMillis,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        let rows = on_conn!(self, c => grants::table
            .filter(grants::held_until.le(now.0))
            .order((grants::held_until.asc(), grants::grant_id.asc()))
            .limit(limit_i64(limit))
            .select(GrantRow::as_select())
            .load(c));
        self.load_grants(rows)
    }

    pub(super) fn read_held_grants(&mut self) -> Result<Vec<HeldGrant>, StorageError> {
        let rows = on_conn!(self, c => grants::table
            .select(GrantRow::as_select())
            .load(c));
        let mut held = self.load_grants(rows)?;
        // Sorted here, not by ORDER BY: database collations differ, the
        // model's order is Rust's.
        held.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(held)
    }

    pub(super) fn read_grants_after(
        &mut self,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<Vec<HeldGrant>, StorageError> {
        // The empty string sorts before every id in every collation.
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows = on_conn!(self, c => grants::table
            .filter(grants::grant_id.gt(&after))
            .order(grants::grant_id.asc())
            .limit(limit_i64(limit))
            .select(GrantRow::as_select())
            .load(c));
        self.load_grants(rows)
    }

    pub(super) fn read_grants_and_now(
        &mut self,
        ids: &[GrantId],
    ) -> Result<GrantsAndNow, StorageError> {
        if !ids.is_empty()
            && let Some(read) = self.pg_grants_and_now(ids)?
        {
            return Ok(read);
        }
        let grants = self.read_grants(ids)?;
        Ok(GrantsAndNow {
            grants,
            read: self.read_now_and_stamp()?,
        })
    }

    /// On PostgreSQL (`None` elsewhere): [`crate::port::BatchTx::grants_and_now`], in one
    /// statement when any of `ids` is found (no row carries the clock else).
    fn pg_grants_and_now(&mut self, ids: &[GrantId]) -> Result<Option<GrantsAndNow>, StorageError> {
        let sql = now_and_stamp_sql(&self.now_expr(), self.bigint_cast());
        let Conn::Pg(c) = &mut self.conn else {
            return Ok(None);
        };
        let keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let rows = arrays::grants_and_now(c, &keys, &sql);
        let mut rows = rows.map_err(|e| self.fail(e))?;
        let clock = rows
            .first_mut()
            .map(|r| std::mem::take(&mut r.clock).decode());
        let grants = rows
            .into_iter()
            .map(|r| r.grant.decode())
            .collect::<Result<Vec<_>, _>>()?;
        let read = match clock {
            Some(c) => {
                self.saw_license(c.stamp.as_ref().map(|s| s.license_id.as_str()));
                c
            }
            None => self.read_now_and_stamp()?,
        };
        Ok(Some(GrantsAndNow { grants, read }))
    }
}
