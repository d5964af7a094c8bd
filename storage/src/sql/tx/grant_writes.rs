//! Writes of the grants table: a grant inserted, renewed or ended (its
//! usage row written in the same transaction, M8), one at a time or a
//! batch's worth together.

use super::{Conn, DieselTx};
use crate::port::StorageError;
use crate::sql::rows::{GrantRow, UsageRowDb};
use crate::sql::schema::{grants, usage_history};
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use tenure_core::manager::Mutation;

impl DieselTx<'_> {
    pub(super) fn apply_mutation(&mut self, mutation: &Mutation) -> Result<(), StorageError> {
        match mutation {
            Mutation::Insert(g) => {
                let row = GrantRow::encode(g)?;
                let r = on_conn!(self, c => diesel::insert_into(grants::table)
                    .values(&row)
                    .execute(c));
                self.expected_one("insert grant", r)?;
                self.count_in_pool(&g.instance, 1, i64::from(g.facts.cores))
            }
            Mutation::Renew {
                grant_id,
                last_renewed,
                held_until,
                client_skew_ms,
            } => {
                let id = grant_id.to_string();
                let r = on_conn!(self, c => diesel::update(
                    grants::table.filter(grants::grant_id.eq(&id)),
                )
                .set((
                    grants::last_renewed.eq(last_renewed.0),
                    grants::held_until.eq(held_until.0),
                    grants::client_skew_ms.eq(*client_skew_ms),
                ))
                .execute(c));
                self.expected_one("renew grant", r)
            }
            Mutation::End { grant_id, usage } => {
                let id = grant_id.to_string();
                let r = on_conn!(self, c => diesel::delete(
                    grants::table.filter(grants::grant_id.eq(&id)),
                )
                .execute(c));
                self.expected_one("end grant", r)?;
                self.count_in_pool(&usage.instance, -1, -i64::from(usage.facts.cores))?;
                let mut row = UsageRowDb::encode(usage)?;
                if row.license_id.is_none() {
                    row.license_id = self.installed_license_id()?;
                }
                let r = on_conn!(self, c => diesel::insert_into(usage_history::table)
                    .values(&row)
                    .execute(c));
                self.expected_one("insert usage", r)
            }
        }
    }

    pub(super) fn apply_renewal_batch(
        &mut self,
        renewals: &[Mutation],
    ) -> Result<(), StorageError> {
        let mut rows = Vec::with_capacity(renewals.len());
        for m in renewals {
            match m {
                Mutation::Renew {
                    grant_id,
                    last_renewed,
                    held_until,
                    client_skew_ms,
                } => rows.push((
                    grant_id.to_string(),
                    last_renewed.0,
                    held_until.0,
                    *client_skew_ms,
                )),
                other => self.apply_mutation(other)?,
            }
        }
        // A few hundred parameters per statement suit every backend.
        for chunk in rows.chunks(64) {
            self.renew_rows(chunk)?;
        }
        Ok(())
    }

    pub(super) fn apply_insert_batch(&mut self, inserts: &[Mutation]) -> Result<(), StorageError> {
        let mut new = Vec::with_capacity(inserts.len());
        for m in inserts {
            match m {
                Mutation::Insert(g) => new.push(g),
                other => self.apply_mutation(other)?,
            }
        }
        self.insert_grants(&new)
    }
}
