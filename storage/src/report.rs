//! The operator's usage record (6.3): closed UTC days rolled up into
//! `usage_daily` as they close, usage rows pruned past retention once their
//! days are rolled up, and reports read from both.
//!
//! Edge cases, decided here:
//! - A day is rolled up once its end is [`ROLLUP_SETTLE`] behind the
//!   storage clock, so a transaction that read the clock just before
//!   midnight has committed its usage row by then.
//! - A rolled-up day is never computed again. A storage clock stepped back
//!   into a closed day (M9) may write usage rows that end there; the day's
//!   roll-up counted those grants as held to its end and stays as it was.
//! - A day's `license_id` is the license installed when it was rolled up
//!   (for the open day: when the report is read), whatever changed during
//!   the day; each usage row keeps the license in force when it ended.

use crate::manager::Manager;
use crate::port::{StorageError, Store, Tx};
use std::time::Duration;
use tenure_core::UnixMillis;
use tenure_core::report::{
    BadReportQuery, By, DAY_MS, ReportRange, ReportRow, day_start, live_days, report_rows,
};
use tenure_core::time::duration_ms;

/// How long after a day ends it waits to be rolled up.
pub const ROLLUP_SETTLE: Duration = Duration::from_secs(600);

/// Days rolled up per transaction, so that one transaction reads a bounded
/// stretch of history.
pub const ROLLUP_DAYS_PER_TX: usize = 7;

/// Usage rows deleted per transaction by retention.
pub const PRUNE_PER_TX: usize = 1000;

/// A report's span and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReport {
    pub range: ReportRange,
    pub rows: Vec<ReportRow>,
}

/// Why a report was not given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Query(#[from] BadReportQuery),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl<S: Store> Manager<S> {
    /// Rolls up the next closed days not rolled up yet, at most `max_days`
    /// of them, in one transaction that reads their usage rows and held
    /// grants and writes their figures. Returns how many days it rolled up
    /// (0 when none is due).
    pub fn roll_up(&self, max_days: usize) -> Result<usize, StorageError> {
        let settle = duration_ms(ROLLUP_SETTLE);
        let max_days = i64::try_from(max_days.max(1)).unwrap_or(i64::MAX);
        self.store().transaction(&mut |tx| {
            let now = tx.now()?;
            // The first day not due: not closed, or closed too recently.
            let open = day_start(now.0.saturating_sub(settle));
            // The first day not rolled up: after the watermark, or else the
            // day of the oldest usage.
            let first_of = |tx: &mut dyn Tx, mark: Option<UnixMillis>| match mark {
                Some(m) => Ok(Some(m.0.saturating_add(DAY_MS))),
                None => Ok(tx.first_usage()?.map(|t| day_start(t.0))),
            };
            // Most sweeps find nothing due: they learn it without a write.
            let unlocked = tx.rollup_watermark()?;
            if first_of(tx, unlocked)?.is_none_or(|f| f >= open) {
                return Ok(0);
            }
            let mark = tx.lock_rollup()?;
            let Some(first) = first_of(tx, mark)?.filter(|f| *f < open) else {
                return Ok(0);
            };
            let end = first
                .saturating_add(max_days.saturating_mul(DAY_MS))
                .min(open);
            let usage = tx.usage_overlapping(UnixMillis(first), UnixMillis(end))?;
            let held = tx.held_grants()?;
            let license = tx.license_stamp()?.map(|s| s.license_id);
            let days = live_days(&usage, &held, first, end, license.as_deref());
            tx.put_rollups(&days, UnixMillis(end - DAY_MS))?;
            Ok(usize::try_from((end - first) / DAY_MS).unwrap_or(0))
        })
    }

    /// Deletes at most `limit` usage rows that ended more than `retention`
    /// ago and whose days are all rolled up. Returns how many.
    pub fn prune_usage(&self, retention: Duration, limit: usize) -> Result<usize, StorageError> {
        self.store().transaction(&mut |tx| {
            let Some(mark) = tx.rollup_watermark()? else {
                return Ok(0);
            };
            let now = tx.now()?;
            let before = now
                .saturating_sub(retention)
                .0
                .min(mark.0.saturating_add(DAY_MS));
            tx.prune_usage(UnixMillis(before), limit)
        })
    }

    /// `GET /v1/reports/usage`: closed days from their roll-ups, the days
    /// not rolled up yet (today, and any still waiting) from usage rows and
    /// held grants, counted up to min(`to`, now).
    pub fn usage_report(
        &self,
        from: UnixMillis,
        to: Option<UnixMillis>,
        by: By,
    ) -> Result<UsageReport, ReportError> {
        let out = self.store().transaction(&mut |tx| {
            let now = tx.now()?;
            let range = match ReportRange::new(from, to, by, now) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let rolled_end = tx
                .rollup_watermark()?
                .map_or(i64::MIN, |m| m.0.saturating_add(DAY_MS));
            let mut days = if rolled_end > range.from {
                tx.rollups_between(UnixMillis(range.from), UnixMillis(range.to.min(rolled_end)))?
            } else {
                Vec::new()
            };
            let live_from = range.from.max(rolled_end);
            if live_from < range.end {
                let usage = tx.usage_overlapping(UnixMillis(live_from), UnixMillis(range.end))?;
                let held = tx.held_grants()?;
                let license = tx.license_stamp()?.map(|s| s.license_id);
                days.extend(live_days(
                    &usage,
                    &held,
                    live_from,
                    range.end,
                    license.as_deref(),
                ));
            }
            Ok(Ok(UsageReport {
                range,
                rows: report_rows(&days, range.by),
            }))
        })?;
        Ok(out?)
    }
}
