//! Gauges an operator alerts on (protocol section 6.3): when the license
//! expires, each pool's limits beside what it holds, components in grace,
//! and how many managers are live against the license's allowance.

use std::collections::BTreeMap;
use std::fmt::Write;
use tenure_core::license::License;

type Pool = (String, String);

/// The license in force, as the last sweep read it.
#[derive(Debug, Clone, Default)]
pub(super) struct LicenseGauges {
    not_after_s: f64,
    max_managers: u32,
    /// Per pool: `max_servers`, `max_total_cores` (a limit left out is absent).
    limits: BTreeMap<Pool, (Option<u64>, Option<u64>)>,
}

impl LicenseGauges {
    pub(super) fn of(license: &License) -> Self {
        let limits = license
            .limits
            .iter()
            .flat_map(|(env, products)| {
                products.iter().map(move |(product, l)| {
                    (
                        (env.to_string(), product.to_string()),
                        (l.max_servers, l.max_total_cores),
                    )
                })
            })
            .collect();
        Self {
            // Milliseconds since the epoch fit an f64 exactly.
            not_after_s: license.not_after.0 as f64 / 1000.0,
            max_managers: license.max_managers,
            limits,
        }
    }
}

/// The section-6.3 gauges in Prometheus text.
pub(super) fn render(
    out: &mut String,
    license: Option<&LicenseGauges>,
    in_grace: &BTreeMap<Pool, u64>,
    live_managers: Option<u64>,
) {
    if let Some(l) = license {
        let _ = writeln!(
            out,
            "# HELP tenure_license_expiry_timestamp_seconds When the license in force expires (not_after).\n\
             # TYPE tenure_license_expiry_timestamp_seconds gauge\n\
             tenure_license_expiry_timestamp_seconds {}",
            l.not_after_s
        );
        let _ = writeln!(
            out,
            "# HELP tenure_license_max_managers Managers the license lets serve.\n\
             # TYPE tenure_license_max_managers gauge\n\
             tenure_license_max_managers {}",
            l.max_managers
        );
        for (name, help, pick) in [
            (
                "tenure_license_max_servers",
                "The license's max_servers per pool.",
                0,
            ),
            (
                "tenure_license_max_total_cores",
                "The license's max_total_cores per pool.",
                1,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for ((e, p), (servers, cores)) in &l.limits {
                let v = if pick == 0 { servers } else { cores };
                if let Some(v) = v {
                    let _ = writeln!(out, "{name}{{environment=\"{e}\",product=\"{p}\"}} {v}");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP tenure_grants_in_grace Held grants not renewed for over lease_ttl, per pool.\n\
         # TYPE tenure_grants_in_grace gauge"
    );
    let pools = license.map(|l| l.limits.keys().collect::<Vec<_>>());
    // Every licensed pool shows, 0 included, so an alert can tell "none in
    // grace" from "not measured".
    for pool in pools.unwrap_or_default() {
        let n = in_grace.get(pool).copied().unwrap_or(0);
        let (e, p) = pool;
        let _ = writeln!(
            out,
            "tenure_grants_in_grace{{environment=\"{e}\",product=\"{p}\"}} {n}"
        );
    }
    if let Some(n) = live_managers {
        let _ = writeln!(
            out,
            "# HELP tenure_managers_live Managers live in the registry, as this one judges.\n\
             # TYPE tenure_managers_live gauge\n\
             tenure_managers_live {n}"
        );
    }
}
