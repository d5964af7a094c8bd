//! UTC calendar periods: days and months, and the span a report covers.

use crate::rfc3339::{self, digits};
use crate::time::UnixMillis;

pub const DAY_MS: i64 = 86_400_000;

/// The longest report one request may ask for, in days: ten years and
/// their leap days, so that every answer stays small and quick.
pub const MAX_REPORT_DAYS: i64 = 3660;

/// How a report cuts its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    #[default]
    Day,
    Month,
}

impl By {
    pub fn parse(s: &str) -> Result<Self, BadReportQuery> {
        match s {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            other => Err(BadReportQuery::By(other.chars().take(40).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }
}

/// Why a report's query is refused (400 `bad_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReportQuery {
    #[error("`{0}` is required (YYYY-MM-DD or an RFC 3339 time, UTC periods)")]
    Missing(&'static str),
    #[error(
        "`{name}` must be a date YYYY-MM-DD or an RFC 3339 time such as 2026-01-01T00:00:00Z: {why}"
    )]
    Bound { name: &'static str, why: String },
    #[error("`by` must be `day` or `month`, not `{0}`")]
    By(String),
    #[error("`to` must be later than `from`")]
    Empty,
    #[error("a report covers at most {MAX_REPORT_DAYS} days; ask for a shorter span")]
    TooLong,
}

/// Midnight (UTC) that starts the day of `t`.
pub fn day_start(t: i64) -> i64 {
    t.div_euclid(DAY_MS) * DAY_MS
}

/// Midnight (UTC) that starts the period of `t`.
pub fn period_start(t: i64, by: By) -> i64 {
    match by {
        By::Day => day_start(t),
        By::Month => {
            let (y, m, _) = civil_from_days(t.div_euclid(DAY_MS));
            days_from_civil(y, m, 1) * DAY_MS
        }
    }
}

/// The start of the period after the one starting at `start`.
fn next_period(start: i64, by: By) -> i64 {
    match by {
        By::Day => start.saturating_add(DAY_MS),
        By::Month => {
            let (y, m, _) = civil_from_days(start.div_euclid(DAY_MS));
            start.saturating_add(days_in_month(y, m) * DAY_MS)
        }
    }
}

/// `YYYY-MM-DD` of the day starting at or containing `t`.
pub fn period_label(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A report bound: `YYYY-MM-DD` (that day's midnight, UTC) or an RFC 3339
/// time.
pub fn parse_bound(name: &'static str, s: &str) -> Result<UnixMillis, BadReportQuery> {
    let bad = |why: String| BadReportQuery::Bound { name, why };
    let b = s.as_bytes();
    if b.len() == 10 {
        let date = (|| {
            let (y, m, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
            (b[4] == b'-' && b[7] == b'-').then_some(())?;
            ((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d)).then_some(())?;
            Some(days_from_civil(y, m, d) * DAY_MS)
        })();
        return date
            .map(UnixMillis)
            .ok_or_else(|| bad(format!("{:?} is not a date", s)));
    }
    rfc3339::parse(s).map_err(|e| bad(e.to_string()))
}

/// The span a report covers: whole UTC periods from the one holding `from`
/// up to (not including) `to`, rounded up to a period boundary; figures are
/// counted no later than `end` = min(`to`, now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRange {
    pub by: By,
    pub from: i64,
    pub to: i64,
    pub end: i64,
}

impl ReportRange {
    /// `to` defaults to `now`. Refused: `to` not after `from`, or a span of
    /// more than [`MAX_REPORT_DAYS`] days.
    pub fn new(
        from: UnixMillis,
        to: Option<UnixMillis>,
        by: By,
        now: UnixMillis,
    ) -> Result<Self, BadReportQuery> {
        let to_raw = to.unwrap_or(now).0;
        if to_raw <= from.0 {
            return Err(BadReportQuery::Empty);
        }
        let start = period_start(from.0, by);
        let last = period_start(to_raw.saturating_sub(1), by);
        let to = next_period(last, by);
        if to.saturating_sub(start) > MAX_REPORT_DAYS * DAY_MS {
            return Err(BadReportQuery::TooLong);
        }
        Ok(Self {
            by,
            from: start,
            to,
            end: to.min(now.0),
        })
    }
}

// The civil calendar below stays hand-written rather than `jiff`'s: report
// periods are cut for any `i64` instant (a `to` or a `now` far outside the
// years 0000 to 9999 still has a period and a label, saturating at the ends),
// and `jiff`'s civil dates stop at year 9999, which would make every function
// here fallible.

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Eras are 400-year cycles,
/// and the year is taken to start on 1 March so the leap day falls last.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        parse_bound("t", s).expect("bound").0
    }

    #[test]
    fn bounds_take_dates_and_times() {
        assert_eq!(t("1970-01-02"), DAY_MS);
        assert_eq!(t("1970-01-02T00:00:00Z"), DAY_MS);
        assert!(parse_bound("from", "2026-02-30").is_err());
        assert!(parse_bound("from", "2026-13-01").is_err());
        assert!(parse_bound("from", "yesterday").is_err());
        assert!(parse_bound("from", "2026-1-01x").is_err());
    }

    #[test]
    fn months_start_on_the_first_and_end_on_the_last() {
        let mid = t("2024-02-15T12:00:00Z");
        assert_eq!(period_start(mid, By::Month), t("2024-02-01"));
        assert_eq!(next_period(t("2024-02-01"), By::Month), t("2024-03-01"));
        assert_eq!(next_period(t("2023-12-01"), By::Month), t("2024-01-01"));
        assert_eq!(period_label(mid), "2024-02-15");
    }

    #[test]
    fn ranges_round_to_whole_periods_and_stop_at_now() {
        let now = UnixMillis(t("2026-03-10T06:00:00Z"));
        let r = ReportRange::new(
            UnixMillis(t("2026-01-15T10:00:00Z")),
            Some(UnixMillis(t("2026-03-01"))),
            By::Month,
            now,
        )
        .expect("range");
        assert_eq!(
            (r.from, r.to, r.end),
            (t("2026-01-01"), t("2026-03-01"), t("2026-03-01"))
        );
        let r = ReportRange::new(UnixMillis(t("2026-03-09")), None, By::Day, now).expect("range");
        assert_eq!(
            (r.from, r.to, r.end),
            (t("2026-03-09"), t("2026-03-11"), now.0)
        );
        let from = UnixMillis(t("2026-03-09"));
        assert_eq!(
            ReportRange::new(from, Some(from), By::Day, now),
            Err(BadReportQuery::Empty)
        );
        let long = UnixMillis(t("2016-01-01"));
        assert_eq!(
            ReportRange::new(long, Some(UnixMillis(t("2026-03-01"))), By::Day, now),
            Err(BadReportQuery::TooLong)
        );
    }

    #[test]
    fn civil_matches_day_count() {
        let mut expected = days_from_civil(0, 1, 1);
        for year in 0..=9999 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expected);
                    assert_eq!(civil_from_days(expected), (year, month, day));
                    expected += 1;
                }
            }
        }
    }
}
