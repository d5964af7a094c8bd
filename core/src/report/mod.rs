//! The operator's usage record (M8, 6.3) as pure functions: the exact
//! figures of a pool over a window of time from its grants' intervals, the
//! UTC calendar periods a report is cut into, and the report's rows and CSV.
//!
//! A grant is held over `[start, end)`: an ended grant from its usage row
//! (`first_request_ms` to `ended_ms`), a grant still held from its grants row
//! (`granted_at` on, with no end yet). Figures over a window `[from, to)`:
//!
//! - peak concurrent servers and cores: the true maximum, by a sweep over
//!   the interval ends inside the window, ends before starts at one instant,
//!   so a `replaced` grant and its successor in the same millisecond count
//!   once;
//! - server-ms and core-ms: each interval's overlap with the window (times
//!   its cores);
//! - grants started in the window, and grants ended in it by reason.
//!
//! Windows that partition a longer one add up exactly: peaks by their
//! maximum, every other figure by its sum ([`Figures::merge`]). That is what
//! lets a month come from its days.

mod csv;
mod period;

pub use csv::{CSV_HEADER, to_csv};
pub use period::{
    BadReportQuery, By, DAY_MS, MAX_REPORT_DAYS, ReportRange, day_start, parse_bound, period_label,
    period_start,
};

use crate::manager::HeldGrant;
use crate::wire::{EndReason, PoolKey, UsageRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One grant's time in its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Storage time it was granted.
    pub start: i64,
    /// When and why it ended; `None` while it is held.
    pub end: Option<(i64, EndReason)>,
    pub cores: u32,
}

impl Span {
    pub fn ended(u: &UsageRow) -> Self {
        Self {
            start: u.first_request_ms,
            end: Some((u.ended_ms, u.end_reason)),
            cores: u.facts.cores,
        }
    }

    pub fn held(g: &HeldGrant) -> Self {
        Self {
            start: g.granted_at.0,
            end: None,
            cores: g.facts.cores,
        }
    }

    /// The part of `[start, end)` inside `[from, to)`, if not empty.
    fn clipped(&self, from: i64, to: i64) -> Option<(i64, i64)> {
        let end = self.end.map_or(to, |(e, _)| e.min(to));
        let start = self.start.max(from);
        (start < end).then_some((start, end))
    }
}

/// How many grants ended, per reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndCounts {
    pub released: u64,
    pub replaced: u64,
    pub revoked: u64,
    pub grace_exceeded: u64,
    pub license_expired: u64,
    pub admin_released: u64,
}

impl EndCounts {
    fn slot(&mut self, reason: EndReason) -> &mut u64 {
        match reason {
            EndReason::Released => &mut self.released,
            EndReason::Replaced => &mut self.replaced,
            EndReason::Revoked => &mut self.revoked,
            EndReason::GraceExceeded => &mut self.grace_exceeded,
            EndReason::LicenseExpired => &mut self.license_expired,
            EndReason::AdminReleased => &mut self.admin_released,
        }
    }

    pub fn get(&self, reason: EndReason) -> u64 {
        match reason {
            EndReason::Released => self.released,
            EndReason::Replaced => self.replaced,
            EndReason::Revoked => self.revoked,
            EndReason::GraceExceeded => self.grace_exceeded,
            EndReason::LicenseExpired => self.license_expired,
            EndReason::AdminReleased => self.admin_released,
        }
    }

    pub fn add(&mut self, reason: EndReason, n: u64) {
        let slot = self.slot(reason);
        *slot = slot.saturating_add(n);
    }

    pub fn merge(&mut self, other: &Self) {
        for r in EndReason::ALL {
            self.add(r, other.get(r));
        }
    }
}

/// A pool's figures over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub peak_servers: u64,
    pub peak_cores: u64,
    pub server_ms: u64,
    pub core_ms: u64,
    pub grants_started: u64,
    pub grants_ended: EndCounts,
}

impl Figures {
    /// The figures of two windows that do not overlap, taken together:
    /// exact, since the peak of a union is the larger of the two peaks.
    pub fn merge(&mut self, other: &Self) {
        self.peak_servers = self.peak_servers.max(other.peak_servers);
        self.peak_cores = self.peak_cores.max(other.peak_cores);
        self.server_ms = self.server_ms.saturating_add(other.server_ms);
        self.core_ms = self.core_ms.saturating_add(other.core_ms);
        self.grants_started = self.grants_started.saturating_add(other.grants_started);
        self.grants_ended.merge(&other.grants_ended);
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn ms(d: i64) -> u64 {
    u64::try_from(d).unwrap_or(0)
}

/// The figures of one pool's `spans` over `[from, to)`.
pub fn figures(spans: &[Span], from: i64, to: i64) -> Figures {
    let mut f = Figures::default();
    // (instant, +1 start / -1 end, cores); ends sort first at one instant.
    let mut edges: Vec<(i64, i8, u64)> = Vec::with_capacity(spans.len() * 2);
    for s in spans {
        if (from..to).contains(&s.start) {
            f.grants_started += 1;
        }
        if let Some((end, reason)) = s.end
            && (from..to).contains(&end)
        {
            f.grants_ended.add(reason, 1);
        }
        if let Some((a, b)) = s.clipped(from, to) {
            let cores = u64::from(s.cores);
            f.server_ms = f.server_ms.saturating_add(ms(b - a));
            f.core_ms = f.core_ms.saturating_add(ms(b - a).saturating_mul(cores));
            edges.push((a, 1, cores));
            edges.push((b, -1, cores));
        }
    }
    edges.sort_unstable_by_key(|(t, d, _)| (*t, *d));
    let (mut servers, mut cores) = (0u64, 0u64);
    for (_, d, c) in edges {
        if d > 0 {
            servers += 1;
            cores = cores.saturating_add(c);
            f.peak_servers = f.peak_servers.max(servers);
            f.peak_cores = f.peak_cores.max(cores);
        } else {
            servers = servers.saturating_sub(1);
            cores = cores.saturating_sub(c);
        }
    }
    f
}

/// [`figures`] of every pool over `[from, to)`; pools with nothing in the
/// window are left out.
pub fn pool_figures<'a>(
    spans: impl IntoIterator<Item = (&'a PoolKey, Span)>,
    from: i64,
    to: i64,
) -> BTreeMap<PoolKey, Figures> {
    let mut by_pool: BTreeMap<&PoolKey, Vec<Span>> = BTreeMap::new();
    for (pool, span) in spans {
        by_pool.entry(pool).or_default().push(span);
    }
    by_pool
        .into_iter()
        .map(|(pool, spans)| (pool.clone(), figures(&spans, from, to)))
        .filter(|(_, f)| !f.is_empty())
        .collect()
}

/// One pool's figures over one UTC day, as storage keeps it once the day
/// is closed, with the license installed when it was rolled up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigures {
    /// Midnight (UTC) that starts the day.
    pub day_ms: i64,
    pub pool: PoolKey,
    pub figures: Figures,
    pub license_id: Option<String>,
}

/// The days of `[from, to)` (midnights, UTC) every figure of which comes
/// from `usage` (ended grants) and `held` (grants still held), each day's
/// window cut at `to`: for a report, the days not rolled up yet.
pub fn live_days(
    usage: &[UsageRow],
    held: &[HeldGrant],
    from: i64,
    to: i64,
    license_id: Option<&str>,
) -> Vec<DayFigures> {
    let pools: Vec<(PoolKey, Span)> = usage
        .iter()
        .map(|u| (u.instance.pool(), Span::ended(u)))
        .chain(held.iter().map(|g| (g.instance.pool(), Span::held(g))))
        .collect();
    // Each span goes to the days it touches, from its start to its end (an
    // end exactly at midnight still counts as an end that day): the work
    // is the days grants were held, not days times grants.
    let mut by_day: BTreeMap<i64, Vec<(&PoolKey, Span)>> = BTreeMap::new();
    let last = to.saturating_sub(1);
    for (pool, span) in &pools {
        let end = span.end.map_or(last, |(e, _)| e.min(last));
        if span.start > last || end < from {
            continue;
        }
        let mut day = day_start(span.start.max(from));
        while day <= end {
            by_day.entry(day).or_default().push((pool, *span));
            day = day.saturating_add(DAY_MS);
        }
    }
    let mut out = Vec::new();
    for (day, spans) in by_day {
        let (start, end) = (day.max(from), day.saturating_add(DAY_MS).min(to));
        for (pool, figures) in pool_figures(spans, start, end) {
            out.push(DayFigures {
                day_ms: day,
                pool,
                figures,
                license_id: license_id.map(str::to_owned),
            });
        }
    }
    out
}

/// One row of a usage report: one pool over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The period's first day, `YYYY-MM-DD` (UTC).
    pub period_start: String,
    pub environment: String,
    pub product: String,
    pub peak_servers: u64,
    pub peak_cores: u64,
    /// `server_ms` in hours, to the microhour.
    pub server_hours: f64,
    pub core_hours: f64,
    /// The exact figures the hours are rounded from.
    pub server_ms: u64,
    pub core_ms: u64,
    pub grants_started: u64,
    pub grants_ended: EndCounts,
    /// The license installed when the period's last day with usage was
    /// rolled up (or now, for the day still open).
    pub license_id: Option<String>,
}

/// `ms` in hours as exact decimal text, six places, rounded half up.
pub fn hours_text(ms: u64) -> String {
    const H: u128 = 3_600_000;
    let micro = (u128::from(ms) * 1_000_000 + H / 2) / H;
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

fn hours(ms: u64) -> f64 {
    hours_text(ms).parse().unwrap_or(f64::NAN)
}

/// The report's rows from day figures (in any order, at most one per day and
/// pool): one per period and pool, ordered by period, then pool.
pub fn report_rows(days: &[DayFigures], by: By) -> Vec<ReportRow> {
    let mut periods: BTreeMap<(i64, &PoolKey), (Figures, i64, Option<&str>)> = BTreeMap::new();
    for d in days {
        let key = (period_start(d.day_ms, by), &d.pool);
        let entry = periods
            .entry(key)
            .or_insert((Figures::default(), i64::MIN, None));
        entry.0.merge(&d.figures);
        // The latest day's license speaks for the period.
        if d.day_ms >= entry.1 {
            entry.1 = d.day_ms;
            entry.2 = d.license_id.as_deref();
        }
    }
    periods
        .into_iter()
        .map(|((start, pool), (f, _, license_id))| ReportRow {
            period_start: period_label(start),
            environment: pool.environment.as_str().to_owned(),
            product: pool.product.as_str().to_owned(),
            peak_servers: f.peak_servers,
            peak_cores: f.peak_cores,
            server_hours: hours(f.server_ms),
            core_hours: hours(f.core_ms),
            server_ms: f.server_ms,
            core_ms: f.core_ms,
            grants_started: f.grants_started,
            grants_ended: f.grants_ended,
            license_id: license_id.map(str::to_owned),
        })
        .collect()
}

#[cfg(test)]
mod tests;
