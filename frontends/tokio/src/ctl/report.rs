//! `tenurectl report`: `GET /v1/reports/usage` as a table, CSV or JSON.

use super::admin::{connect, print_raw};
use super::args::{ReportArgs, ReportBy, ReportFormat};
use super::table::render;
use anyhow::Context;
use serde::Deserialize;
use tenure_core::report::{ReportRow, hours_text, parse_bound};
use tenure_core::wire::EndReason;
use tenure_tokio::client::paths;

#[derive(Deserialize)]
struct Report {
    rows: Vec<ReportRow>,
}

/// A bound as the query takes it: checked here, so a typo gets the same
/// message the server would give, then percent-encoded where it must be.
fn bound(name: &'static str, text: &str) -> anyhow::Result<String> {
    parse_bound(name, text).with_context(|| format!("--{name}"))?;
    Ok(text.replace('%', "%25").replace('+', "%2B"))
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let mut path = format!("{}?from={}", paths::REPORT, bound("from", &args.from)?);
    if let Some(to) = &args.to {
        path.push_str(&format!("&to={}", bound("to", to)?));
    }
    path.push_str(match args.by {
        ReportBy::Day => "&by=day",
        ReportBy::Month => "&by=month",
    });
    let format = if args.admin.json {
        ReportFormat::Json
    } else {
        args.format
    };
    if format == ReportFormat::Csv {
        path.push_str("&format=csv");
    }
    let client = connect(&args.admin)?;
    let body = client.get_raw(&path).await?;
    match format {
        ReportFormat::Json => print_raw(body),
        ReportFormat::Csv => {
            print!("{body}");
            Ok(())
        }
        ReportFormat::Table => {
            let report: Report =
                serde_json::from_str(&body).context("the manager's report is not JSON")?;
            print!("{}", report_text(&report.rows));
            Ok(())
        }
    }
}

fn ended(r: &ReportRow) -> String {
    let parts: Vec<String> = EndReason::ALL
        .iter()
        .filter(|why| r.grants_ended.get(**why) > 0)
        .map(|why| format!("{}={}", why.as_str(), r.grants_ended.get(*why)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

fn report_text(rows: &[ReportRow]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.period_start.clone(),
                format!("{}/{}", r.environment, r.product),
                r.peak_servers.to_string(),
                r.peak_cores.to_string(),
                hours_text(r.server_ms),
                hours_text(r.core_ms),
                r.grants_started.to_string(),
                ended(r),
                r.license_id.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    render(
        &[
            "PERIOD",
            "POOL",
            "PEAK SERVERS",
            "PEAK CORES",
            "SERVER HOURS",
            "CORE HOURS",
            "STARTED",
            "ENDED",
            "LICENSE",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_and_encoded() {
        assert_eq!(bound("from", "2026-01-01").expect("date"), "2026-01-01");
        assert_eq!(
            bound("to", "2026-01-01T00:00:00+01:00").expect("time"),
            "2026-01-01T00:00:00%2B01:00"
        );
        let e = bound("from", "yesterday").expect_err("refused");
        assert!(format!("{e:#}").contains("--from"), "{e:#}");
    }
}
