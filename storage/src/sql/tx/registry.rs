//! The manager registry (M6): one row per manager, written by its
//! heartbeat and removed when it leaves.

use super::{Conn, DieselTx};
use crate::port::StorageError;
use crate::sql::rows::ManagerRow;
use crate::sql::schema::managers;
use diesel::prelude::*;
use tenure_core::health::ManagerRecord;

impl DieselTx<'_> {
    pub(super) fn read_managers(&mut self) -> Result<Vec<ManagerRecord>, StorageError> {
        let r = on_conn!(self, c => managers::table
            .select(ManagerRow::as_select())
            .load(c));
        let mut out: Vec<ManagerRecord> = r
            .map_err(|e| self.fail(e))?
            .into_iter()
            .map(ManagerRow::decode)
            .collect();
        out.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(out)
    }

    pub(super) fn upsert_manager(&mut self, record: &ManagerRecord) -> Result<(), StorageError> {
        let row = ManagerRow::encode(record);
        let r = on_conn!(self, c => diesel::update(
            managers::table.filter(managers::node_id.eq(&row.node_id)),
        )
        .set(&row)
        .execute(c));
        if r.map_err(|e| self.fail(e))? == 1 {
            return Ok(());
        }
        let r = on_conn!(self, c => diesel::insert_into(managers::table).values(&row).execute(c));
        self.expected_one("insert manager", r)
    }

    pub(super) fn remove_manager(&mut self, node_id: &str) -> Result<(), StorageError> {
        let r = on_conn!(self, c => diesel::delete(
            managers::table.filter(managers::node_id.eq(node_id)),
        )
        .execute(c));
        r.map_err(|e| self.fail(e)).map(|_| ())
    }
}
