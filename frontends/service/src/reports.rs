//! `GET /v1/reports/usage` (6.3), and the usage upkeep the periodic sweep
//! runs: rolling up closed days, then pruning usage rows past retention.

use crate::http::{self, Response};
use crate::metrics::Outcome;
use crate::report_query::ReportQuery;
use crate::service::{Service, failure};
use serde::Serialize;
use std::time::Duration;
use tenure_core::report::{ReportRow, period_label, to_csv};
use tenure_core::{ErrorCode, UnixMillis, rfc3339};
use tenure_storage::{PRUNE_PER_TX, ROLLUP_DAYS_PER_TX, ReportError, Store};

/// `--usage-retention`'s default: 400 days, a year and a true-up's slack.
pub const DEFAULT_USAGE_RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// Roll-up transactions one sweep runs at most: a manager catching up on
/// years of history does it over a few sweeps, never in one long stall.
const ROLLUPS_PER_SWEEP: usize = 64;

/// Prune transactions one sweep runs at most.
const PRUNES_PER_SWEEP: usize = 20;

#[derive(Serialize)]
struct ReportBody<'a> {
    by: &'static str,
    /// The first period's first day, `YYYY-MM-DD`.
    from: String,
    /// The day after the last period, `YYYY-MM-DD`.
    to: String,
    /// Storage time figures are counted up to: min(`to`, now).
    until: String,
    rows: &'a [ReportRow],
}

impl<S: Store> Service<S> {
    /// Keeps usage rows for `retention` past their end (`--usage-retention`).
    pub fn with_usage_retention(mut self, retention: Duration) -> Self {
        self.usage_retention = retention;
        self
    }

    pub(crate) fn report(&self, q: ReportQuery) -> (Response, Outcome) {
        match self.manager().usage_report(q.from, q.to, q.by) {
            Ok(report) if q.csv => (
                Response {
                    content_type: Some(http::CSV),
                    body: to_csv(&report.rows).into_bytes(),
                    ..Response::empty(200)
                },
                Outcome::Other,
            ),
            Ok(report) => {
                let r = report.range;
                let body = ReportBody {
                    by: r.by.as_str(),
                    from: period_label(r.from),
                    to: period_label(r.to),
                    until: rfc3339::display(UnixMillis(r.end)).to_string(),
                    rows: &report.rows,
                };
                (Response::json(200, &body), Outcome::Other)
            }
            Err(ReportError::Query(e)) => (
                Response::error(ErrorCode::BadRequest, e.to_string()),
                Outcome::Denied("bad_request"),
            ),
            Err(ReportError::Storage(e)) => failure(&e.into()),
        }
    }

    /// Rolls up the days that closed, then deletes usage rows that ended
    /// past retention and whose days are rolled up, each in bounded
    /// transactions. Blocking.
    pub fn usage_upkeep(&self) {
        let m = self.manager();
        let mut days = 0;
        for _ in 0..ROLLUPS_PER_SWEEP {
            match m.roll_up(ROLLUP_DAYS_PER_TX) {
                Ok(0) => break,
                Ok(n) => days += n,
                Err(e) => {
                    tracing::warn!(error = %e, "usage roll-up failed; the next sweep retries");
                    break;
                }
            }
        }
        if days > 0 {
            tracing::info!(days, "usage days rolled up");
        }
        let mut pruned = 0;
        for _ in 0..PRUNES_PER_SWEEP {
            match m.prune_usage(self.usage_retention, PRUNE_PER_TX) {
                Ok(n) => {
                    pruned += n;
                    if n < PRUNE_PER_TX {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "usage pruning failed; the next sweep retries");
                    break;
                }
            }
        }
        if pruned > 0 {
            tracing::info!(rows = pruned, "usage rows past retention deleted");
        }
    }
}
