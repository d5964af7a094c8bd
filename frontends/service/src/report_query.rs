//! `GET /v1/reports/usage?from=&to=&by=day|month&format=json|csv` (6.3).

use crate::query::percent_decode;
use tenure_core::UnixMillis;
use tenure_core::report::{BadReportQuery, By, parse_bound};

/// What a report request asks for. Whether the span is acceptable is
/// judged against the storage clock (`to` defaults to now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportQuery {
    pub from: UnixMillis,
    pub to: Option<UnixMillis>,
    pub by: By,
    pub csv: bool,
}

/// Whether an `Accept` header prefers CSV: it names `text/csv` (any
/// parameters, any case) and not `application/json` before it.
pub fn accepts_csv(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("text/csv") {
            return true;
        }
        if media.eq_ignore_ascii_case("application/json") {
            return false;
        }
    }
    false
}

/// The query's parameters; `format` wins over `accept`.
pub fn report_query(query: Option<&str>, accept: Option<&str>) -> Result<ReportQuery, String> {
    let (mut from, mut to, mut by, mut csv) = (None, None, By::Day, accepts_csv(accept));
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v =
            percent_decode(v).ok_or_else(|| format!("`{k}` is not valid percent-encoded text"))?;
        match k {
            "from" => from = Some(parse_bound("from", &v).map_err(|e| e.to_string())?),
            "to" => to = Some(parse_bound("to", &v).map_err(|e| e.to_string())?),
            "by" => by = By::parse(&v).map_err(|e| e.to_string())?,
            "format" => {
                csv = match v.as_str() {
                    "csv" => true,
                    "json" => false,
                    _ => return Err("`format` must be `json` or `csv`".into()),
                }
            }
            _ => {}
        }
    }
    let from = from.ok_or_else(|| BadReportQuery::Missing("from").to_string())?;
    Ok(ReportQuery { from, to, by, csv })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_times_period_and_format() {
        let q = report_query(
            Some("from=1970-01-02&to=1970-01-03T00%3A00%3A00Z&by=month"),
            None,
        )
        .expect("query");
        assert_eq!(q.from, UnixMillis(86_400_000));
        assert_eq!(q.to, Some(UnixMillis(172_800_000)));
        assert_eq!((q.by, q.csv), (By::Month, false));
        let q = report_query(Some("from=1970-01-02"), Some("text/csv")).expect("query");
        assert_eq!((q.by, q.csv, q.to), (By::Day, true, None));
        let q = report_query(Some("from=1970-01-02&format=json"), Some("text/csv")).expect("q");
        assert!(!q.csv);
        for bad in [
            "",
            "to=1970-01-02",
            "from=yesterday",
            "from=1970-01-02&by=week",
            "from=1970-01-02&format=xml",
            "from=%zz",
        ] {
            assert!(report_query(Some(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn accept_prefers_what_comes_first() {
        assert!(accepts_csv(Some("text/csv")));
        assert!(accepts_csv(Some("Text/CSV; charset=utf-8")));
        assert!(accepts_csv(Some("text/html, text/csv;q=0.9")));
        assert!(!accepts_csv(Some("application/json, text/csv")));
        assert!(!accepts_csv(Some("*/*")));
        assert!(!accepts_csv(None));
    }
}
