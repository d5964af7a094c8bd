//! A pool's daily peaks as an SVG drawn on the server: one panel for peak
//! servers and one for peak cores, a bar per day, and the license's current
//! limit as a dashed line across each panel. Colours come from the
//! stylesheet, as for the overview's bars; the viewBox lets the picture
//! shrink to a phone's width without a scroll bar.

use maud::{Markup, html};

const WIDTH: f64 = 440.0;
/// Room on the left for the scale's figures.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 6.0;
const PANEL: f64 = 84.0;
/// A panel's title line above its plot.
const TITLE: f64 = 20.0;
const GAP: f64 = 14.0;
/// The dates under the second panel.
const FOOT: f64 = 20.0;
const HEIGHT: f64 = 2.0 * (TITLE + PANEL) + GAP + FOOT;

/// One day of one pool: its midnight's date and its peaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub label: String,
    pub servers: u64,
    pub cores: u64,
}

/// Coordinates with two decimals at most: short attributes, stable tests.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One panel: bars of `values` against `limit`, its plot starting at `top`.
fn panel(title: &str, top: f64, values: &[u64], limit: Option<u64>) -> Markup {
    let biggest = values.iter().copied().max().unwrap_or(0);
    // The scale leaves room above the limit line and the tallest bar.
    let scale = biggest.max(limit.unwrap_or(0)).max(1);
    let ceiling = (scale as f64 * 1.15).max(1.0);
    let plot_top = top + TITLE;
    let base = plot_top + PANEL;
    let y = |v: u64| base - v as f64 / ceiling * PANEL;
    let step = (WIDTH - LEFT - RIGHT) / values.len().max(1) as f64;
    // A sliver between bars while they are wide enough to show one.
    let gap = if step >= 4.0 { step * 0.2 } else { 0.0 };
    let heading = match limit {
        Some(l) => format!("{title} (limit {l})"),
        None => format!("{title} (no limit)"),
    };
    html! {
        text.title x=(n(LEFT)) y=(n(top + 14.0)) { (heading) }
        line.axis x1=(n(LEFT)) y1=(n(base)) x2=(n(WIDTH - RIGHT)) y2=(n(base)) {}
        text.scale x=(n(LEFT - 4.0)) y=(n(base)) text-anchor="end" { "0" }
        text.scale x=(n(LEFT - 4.0)) y=(n(y(scale) + 4.0)) text-anchor="end" { (scale) }
        @for (i, v) in values.iter().enumerate() {
            @if *v > 0 {
                @let over = limit.is_some_and(|l| *v > l);
                rect.over[over].peak[!over] x=(n(LEFT + i as f64 * step + gap / 2.0)) y=(n(y(*v)))
                    width=(n(step - gap)) height=(n(base - y(*v))) {}
            }
        }
        @if let Some(l) = limit {
            line.limit x1=(n(LEFT)) y1=(n(y(l))) x2=(n(WIDTH - RIGHT)) y2=(n(y(l))) {}
        }
    }
}

/// The chart of one pool over `days` (oldest first). `name` labels it for
/// screen readers; the peaks of the last day are said in words too.
pub fn peaks(
    name: &str,
    days: &[Day],
    max_servers: Option<u64>,
    max_total_cores: Option<u64>,
) -> Markup {
    let servers: Vec<u64> = days.iter().map(|d| d.servers).collect();
    let cores: Vec<u64> = days.iter().map(|d| d.cores).collect();
    let second = TITLE + PANEL + GAP;
    let foot = HEIGHT - 5.0;
    let label = format!(
        "{name}: peak servers and peak cores per day, {} days",
        days.len()
    );
    html! {
        svg.chart viewBox={"0 0 " (n(WIDTH)) " " (n(HEIGHT))} width="100%"
            role="img" aria-label=(label) {
            title { (label) }
            (panel("Peak servers", 0.0, &servers, max_servers))
            (panel("Peak cores", second, &cores, max_total_cores))
            @if let Some(first) = days.first() {
                text.scale x=(n(LEFT)) y=(n(foot)) { (first.label) }
            }
            @if let Some(last) = days.last().filter(|_| days.len() > 1) {
                text.scale x=(n(WIDTH - RIGHT)) y=(n(foot)) text-anchor="end" { (last.label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(label: &str, servers: u64, cores: u64) -> Day {
        Day {
            label: label.into(),
            servers,
            cores,
        }
    }

    #[test]
    fn bars_scale_to_the_limit_and_mark_the_excess() {
        let days = [
            day("2026-01-01", 0, 0),
            day("2026-01-02", 2, 16),
            day("2026-01-03", 5, 40),
        ];
        let svg = peaks("production/vdp", &days, Some(4), None).into_string();
        assert!(svg.contains(r#"viewBox="0 0 440 242""#), "{svg}");
        assert!(svg.contains(r#"width="100%""#), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 4, "no bar for an idle day");
        assert_eq!(svg.matches(r#"class="over""#).count(), 1, "5 of 4: {svg}");
        assert_eq!(svg.matches(r#"class="limit""#).count(), 1, "cores: {svg}");
        assert!(svg.contains("Peak servers (limit 4)"), "{svg}");
        assert!(svg.contains("Peak cores (no limit)"), "{svg}");
        assert!(svg.contains("2026-01-01") && svg.contains("2026-01-03"));
    }

    #[test]
    fn an_empty_pool_still_draws_its_axes() {
        let svg = peaks("p", &[], None, None).into_string();
        assert!(!svg.contains("<rect") && svg.contains("<line"), "{svg}");
        let hostile = peaks("<script>\"'", &[day("<b>", 1, 1)], Some(1), Some(1));
        let hostile = hostile.into_string();
        assert!(!hostile.contains("<script>") && !hostile.contains("<b>"));
        assert!(
            hostile.contains("aria-label=\"&lt;script&gt;&quot;'"),
            "{hostile}"
        );
    }
}
