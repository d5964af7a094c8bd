//! Usage: each pool's peak servers and cores per day over the last 30, 90
//! or 365 days, drawn against the license's current limits, and below it
//! the usage report `GET /v1/reports/usage` gives (by day or by month), as
//! a table and as a CSV download. The figures are the report's: this page
//! only lays them out.

use super::chart::{self, Day};
use super::form::Fields;
use super::layout::{Ctx, Nav, page};
use maud::{Markup, html};
use std::collections::BTreeMap;
use tenure_core::report::{By, DAY_MS, ReportRange, ReportRow, period_label};
use tenure_core::wire::EndReason;

/// The spans the page offers, in days ending today.
pub const DAY_CHOICES: [u32; 3] = [30, 90, 365];

/// The page's query: `days=30|90|365` and `by=day|month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub days: u32,
    pub by: By,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            days: DAY_CHOICES[0],
            by: By::Day,
        }
    }
}

impl Query {
    /// Missing values take their defaults; any other value is refused with
    /// the reason, so that a mistyped link never shows another span.
    pub fn parse(f: &Fields) -> Result<Self, String> {
        let mut q = Self::default();
        if let Some(d) = f.value("days") {
            q.days = d
                .parse()
                .ok()
                .filter(|d| DAY_CHOICES.contains(d))
                .ok_or_else(|| {
                    let shown: String = d.chars().take(20).collect();
                    format!("The span must be 30, 90 or 365 days, not “{shown}”.")
                })?;
        }
        if let Some(b) = f.value("by") {
            q.by = By::parse(b).map_err(|_| {
                let shown: String = b.chars().take(20).collect();
                format!("The report is cut by day or by month, not by “{shown}”.")
            })?;
        }
        Ok(q)
    }

    /// The link to `path` with this query.
    pub fn link(&self, path: &str) -> String {
        format!("{path}?days={}&by={}", self.days, self.by.as_str())
    }

    /// The first day of the span: `days` days, today the last of them.
    pub fn from(&self, now_ms: i64) -> i64 {
        let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
        today.saturating_sub(i64::from(self.days.saturating_sub(1)) * DAY_MS)
    }

    /// The CSV file's name: the span's first day and the period.
    pub fn file_name(&self, now_ms: i64) -> String {
        format!(
            "tenure-usage-{}-{}d-by-{}.csv",
            period_label(self.from(now_ms)),
            self.days,
            self.by.as_str()
        )
    }
}

/// A pool as the license names it now, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub environment: String,
    pub product: String,
    pub max_servers: Option<u64>,
    pub max_total_cores: Option<u64>,
}

/// One pool's chart.
#[derive(Debug, Clone)]
pub struct PoolChart {
    pub environment: String,
    pub product: String,
    /// Whether the installed license names the pool; one it no longer
    /// names has usage in the span but no limit to draw.
    pub licensed: bool,
    pub max_servers: Option<u64>,
    pub max_total_cores: Option<u64>,
    pub days: Vec<Day>,
}

/// A pool's peak servers and cores by day (`YYYY-MM-DD`).
type DayPeaks<'a> = BTreeMap<&'a str, (u64, u64)>;

#[derive(Debug, Clone)]
pub struct Model {
    pub query: Query,
    /// The span's first day and last day, `YYYY-MM-DD`.
    pub first_day: String,
    pub last_day: String,
    pub charts: Vec<PoolChart>,
    /// The report's rows, by the query's period.
    pub rows: Vec<ReportRow>,
}

impl Model {
    /// `daily`: the report by day over `days` (the charts); `rows`: the
    /// report by the query's period (the table); `limits`: the license's
    /// pools now. Every pool of either gets a chart.
    pub fn new(
        query: Query,
        days: &ReportRange,
        daily: &[ReportRow],
        rows: Vec<ReportRow>,
        limits: &[Limits],
    ) -> Self {
        let mut peaks: BTreeMap<(&str, &str), DayPeaks<'_>> = BTreeMap::new();
        for r in daily {
            peaks
                .entry((r.environment.as_str(), r.product.as_str()))
                .or_default()
                .insert(r.period_start.as_str(), (r.peak_servers, r.peak_cores));
        }
        let mut pools: BTreeMap<(&str, &str), Option<&Limits>> =
            peaks.keys().map(|k| (*k, None)).collect();
        for l in limits {
            pools.insert((l.environment.as_str(), l.product.as_str()), Some(l));
        }
        let labels: Vec<String> = (0..)
            .map(|i: i64| days.from.saturating_add(i.saturating_mul(DAY_MS)))
            .take_while(|d| *d < days.to)
            .map(period_label)
            .collect();
        let charts = pools
            .into_iter()
            .map(|((environment, product), limit)| {
                let of_pool = peaks.get(&(environment, product));
                let days = labels
                    .iter()
                    .map(|label| {
                        let (servers, cores) = of_pool
                            .and_then(|p| p.get(label.as_str()))
                            .copied()
                            .unwrap_or((0, 0));
                        Day {
                            label: label.clone(),
                            servers,
                            cores,
                        }
                    })
                    .collect();
                PoolChart {
                    environment: environment.to_owned(),
                    product: product.to_owned(),
                    licensed: limit.is_some(),
                    max_servers: limit.and_then(|l| l.max_servers),
                    max_total_cores: limit.and_then(|l| l.max_total_cores),
                    days,
                }
            })
            .collect();
        Self {
            query,
            first_day: labels.first().cloned().unwrap_or_default(),
            last_day: labels.last().cloned().unwrap_or_default(),
            charts,
            rows,
        }
    }
}

fn choices(q: &Query) -> Markup {
    html! {
        nav.choices aria-label="Span and period" {
            span.what { "Last" }
            @for d in DAY_CHOICES {
                @let link = Query { days: d, ..*q }.link("/ui/usage");
                @if d == q.days {
                    a.current href=(link) aria-current="true" { (d) " days" }
                } @else {
                    a href=(link) { (d) " days" }
                }
            }
            span.what { "Table by" }
            @for by in [By::Day, By::Month] {
                @let link = Query { by, ..*q }.link("/ui/usage");
                @if by == q.by {
                    a.current href=(link) aria-current="true" { (by.as_str()) }
                } @else {
                    a href=(link) { (by.as_str()) }
                }
            }
        }
    }
}

fn pool_chart(c: &PoolChart) -> Markup {
    let name = format!("{}/{}", c.environment, c.product);
    html! {
        section.card.usage-pool {
            h3.mono { (name) }
            @if !c.licensed {
                p.hint { "The installed license no longer names this pool." }
            }
            (chart::peaks(&name, &c.days, c.max_servers, c.max_total_cores))
        }
    }
}

/// Hours to two places; a use too short to show there says so, so that a
/// pool held for seconds does not read as never held.
fn hours(ms: u64) -> String {
    const SHOWN: u64 = 36_000;
    if ms > 0 && ms < SHOWN / 2 {
        "< 0.01".to_owned()
    } else {
        format!("{:.2}", ms as f64 / 3_600_000.0)
    }
}

/// `ended` as `released 2, revoked 1`; `none` when nothing ended.
fn ended(r: &ReportRow) -> String {
    let parts: Vec<String> = EndReason::ALL
        .into_iter()
        .filter(|reason| r.grants_ended.get(*reason) > 0)
        .map(|reason| format!("{} {}", reason.as_str(), r.grants_ended.get(reason)))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

fn table(m: &Model) -> Markup {
    let period = match m.query.by {
        By::Day => "Day",
        By::Month => "Month",
    };
    html! {
        div.scroll {
            table.report {
                thead {
                    tr {
                        th { (period) } th { "Pool" } th.num { "Peak servers" } th.num { "Peak cores" }
                        th.num { "Server-hours" } th.num { "Core-hours" } th.num { "Grants started" }
                        th { "Ended, by reason" } th { "License id" }
                    }
                }
                tbody {
                    @for r in &m.rows {
                        tr {
                            td.nowrap { (r.period_start) }
                            td.mono { (r.environment) "/" (r.product) }
                            td.num { (r.peak_servers) }
                            td.num { (r.peak_cores) }
                            td.num { (hours(r.server_ms)) }
                            td.num { (hours(r.core_ms)) }
                            td.num { (r.grants_started) }
                            td { (ended(r)) }
                            td.mono { (r.license_id.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    }
}

pub fn render(m: &Model, ctx: &Ctx) -> Markup {
    let body = html! {
        (choices(&m.query))
        p.hint {
            "From " (m.first_day) " to " (m.last_day) " (UTC days; today so far). "
            "Dashed lines: the installed license's limits; red bars: days over them."
        }
        @if m.charts.is_empty() {
            p.card { "The license names no pool and nothing was held in this span." }
        }
        div.charts { @for c in &m.charts { (pool_chart(c)) } }
        h2 { "Report by " (m.query.by.as_str()) }
        @if m.query.by == By::Month {
            p.hint { "Whole calendar months (UTC): the first is counted from its 1st, even where the span starts later." }
        }
        p {
            a.button.secondary href=(m.query.link("/ui/usage.csv")) download { "Download CSV" }
        }
        @if m.rows.is_empty() {
            p.card { "Nothing was held in this span." }
        } @else {
            (table(m))
        }
    };
    page("Usage", ctx, Some(Nav::Usage), body)
}

#[cfg(test)]
mod tests {
    use super::super::form::urlencoded;
    use super::super::overview::tests::{HOSTILE, assert_escaped, ctx};
    use super::*;
    use crate::auth::Role;
    use tenure_core::report::EndCounts;

    fn row(day: &str, environment: &str, servers: u64) -> ReportRow {
        let mut ended = EndCounts::default();
        ended.add(EndReason::Revoked, 1);
        ReportRow {
            period_start: day.into(),
            environment: environment.into(),
            product: "vdp".into(),
            peak_servers: servers,
            peak_cores: servers * 8,
            server_hours: 12.5,
            core_hours: 100.0,
            server_ms: 45_000_000,
            core_ms: 360_000_000,
            grants_started: 3,
            grants_ended: ended,
            license_id: Some(HOSTILE.into()),
        }
    }

    fn model(query: Query) -> Model {
        let range = ReportRange {
            by: By::Day,
            from: 0,
            to: 3 * DAY_MS,
            end: 3 * DAY_MS,
        };
        let daily = vec![row("1970-01-02", HOSTILE, 2), row("1970-01-03", HOSTILE, 5)];
        let limits = [Limits {
            environment: HOSTILE.into(),
            product: "vdp".into(),
            max_servers: Some(4),
            max_total_cores: None,
        }];
        Model::new(query, &range, &daily, daily.clone(), &limits)
    }

    #[test]
    fn hostile_strings_are_escaped_for_both_roles() {
        for role in [Role::Viewer, Role::Admin] {
            let html = render(&model(Query::default()), &ctx(role)).into_string();
            assert_escaped(&html);
            assert!(html.contains("<svg"), "{html}");
            // The pool's name in an attribute: quotes escaped, not closing it.
            assert!(
                html.contains(
                    "aria-label=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'q'/vdp: peak"
                ),
                "{html}"
            );
            assert!(
                html.contains("revoked 1") && html.contains("12.50"),
                "{html}"
            );
            assert!(
                html.contains(r#"href="/ui/usage.csv?days=30&amp;by=day""#),
                "{html}"
            );
        }
    }

    #[test]
    fn every_day_of_the_span_has_a_bar_slot() {
        let m = model(Query::default());
        assert_eq!(m.charts.len(), 1);
        let c = &m.charts[0];
        assert!(c.licensed && c.max_servers == Some(4));
        let servers: Vec<u64> = c.days.iter().map(|d| d.servers).collect();
        assert_eq!(servers, [0, 2, 5]);
        assert_eq!(
            (m.first_day.as_str(), m.last_day.as_str()),
            ("1970-01-01", "1970-01-03")
        );
    }

    #[test]
    fn queries_parse_refuse_and_link_back() {
        let q = Query::parse(&urlencoded("days=365&by=month")).expect("query");
        assert_eq!((q.days, q.by), (365, By::Month));
        assert_eq!(q.link("/ui/usage"), "/ui/usage?days=365&by=month");
        assert_eq!(Query::parse(&urlencoded("")), Ok(Query::default()));
        for bad in ["days=7", "days=abc", "by=week", "days=30&by=<script>"] {
            let why = Query::parse(&urlencoded(bad)).expect_err(bad);
            assert!(why.contains("30, 90 or 365") || why.contains("day or by month"));
        }
        assert_eq!(Query::default().from(DAY_MS * 40 + 5), DAY_MS * 11);
        assert_eq!(
            (hours(0), hours(17_999), hours(18_000)),
            ("0.00".into(), "< 0.01".into(), "0.01".into())
        );
        assert_eq!(hours(45_000_000), "12.50");
        assert_eq!(
            Query::default().file_name(DAY_MS * 40),
            "tenure-usage-1970-01-12-30d-by-day.csv"
        );
    }
}
