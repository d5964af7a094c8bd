//! The installed license's row, and the id this transaction last saw of it.

use super::{Conn, DieselTx};
use crate::port::{LicenseStamp, StorageError, StoredLicense};
use crate::sql::rows::{LICENSE_ROW, LicenseRow};
use crate::sql::schema::license;
#[cfg(feature = "mysql")]
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use tenure_core::UnixMillis;

impl DieselTx<'_> {
    pub(super) fn saw_license(&mut self, id: Option<&str>) {
        self.license_seen = Some(id.map(str::to_owned));
    }

    /// The installed license's id, from what this transaction saw of it
    /// or else read now: what a usage row records (M8).
    pub(super) fn installed_license_id(&mut self) -> Result<Option<String>, StorageError> {
        match &self.license_seen {
            Some(seen) => Ok(seen.clone()),
            None => Ok(self.read_license_stamp()?.map(|s| s.license_id)),
        }
    }

    pub(super) fn read_license(&mut self) -> Result<Option<StoredLicense>, StorageError> {
        let r = on_conn!(self, c => license::table
            .filter(license::id.eq(LICENSE_ROW))
            .select(LicenseRow::as_select())
            .first(c)
            .optional());
        let stored = r.map_err(|e| self.fail(e))?.map(LicenseRow::decode);
        self.saw_license(stored.as_ref().map(|l| l.license_id.as_str()));
        Ok(stored)
    }

    pub(super) fn read_license_stamp(&mut self) -> Result<Option<LicenseStamp>, StorageError> {
        let r = on_conn!(self, c => license::table
            .filter(license::id.eq(LICENSE_ROW))
            .select((license::license_id, license::issued_at))
            .first::<(String, i64)>(c)
            .optional());
        let stamp = r
            .map_err(|e| self.fail(e))?
            .map(|(license_id, issued)| LicenseStamp {
                license_id,
                issued_at: UnixMillis(issued),
            });
        self.saw_license(stamp.as_ref().map(|s| s.license_id.as_str()));
        Ok(stamp)
    }

    pub(super) fn write_license(&mut self, stored: &StoredLicense) -> Result<(), StorageError> {
        self.saw_license(Some(&stored.license_id));
        let row = LicenseRow::encode(stored);
        let r = on_conn!(self, c => diesel::update(license::table.filter(license::id.eq(LICENSE_ROW)))
            .set(&row)
            .execute(c));
        if r.map_err(|e| self.fail(e))? == 1 {
            return Ok(());
        }
        let r = on_conn!(self, c => diesel::insert_into(license::table).values(&row).execute(c));
        self.expected_one("insert license", r)
    }
}
