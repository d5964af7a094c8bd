//! A report as CSV (RFC 4180): a header row, CRLF line ends, and a field
//! quoted when it holds a comma, a quote or a line break.

use super::{ReportRow, hours_text};
use crate::wire::EndReason;

/// The header row's fields, in order.
pub const CSV_HEADER: [&str; 17] = [
    "period_start",
    "environment",
    "product",
    "peak_servers",
    "peak_cores",
    "server_hours",
    "core_hours",
    "server_ms",
    "core_ms",
    "grants_started",
    "ended_released",
    "ended_replaced",
    "ended_revoked",
    "ended_grace_exceeded",
    "ended_license_expired",
    "ended_admin_released",
    "license_id",
];

fn field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

pub(super) fn line<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

pub fn to_csv(rows: &[ReportRow]) -> String {
    let mut out = String::with_capacity(128 * (rows.len() + 1));
    line(&mut out, CSV_HEADER);
    for r in rows {
        let mut cells = vec![
            r.period_start.clone(),
            r.environment.clone(),
            r.product.clone(),
            r.peak_servers.to_string(),
            r.peak_cores.to_string(),
            hours_text(r.server_ms),
            hours_text(r.core_ms),
            r.server_ms.to_string(),
            r.core_ms.to_string(),
            r.grants_started.to_string(),
        ];
        for reason in EndReason::ALL {
            cells.push(r.grants_ended.get(reason).to_string());
        }
        cells.push(r.license_id.clone().unwrap_or_default());
        line(&mut out, cells.iter().map(String::as_str));
    }
    out
}
