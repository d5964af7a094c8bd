//! Gauges an operator alerts on (protocol section 6.3): when the license
//! expires, each pool's limits beside what it holds, components in grace,
//! and how many managers are live against the license's allowance.

use super::{Pool, gauge, pool_gauge};
use prometheus_client::encoding::DescriptorEncoder;
use std::collections::BTreeMap;
use tenure_core::license::License;

/// A pool's `max_servers` and `max_total_cores` (a limit left out is absent).
type Limits = (Option<u64>, Option<u64>);

/// The license in force, as the last sweep read it.
#[derive(Debug, Clone, Default)]
pub(super) struct LicenseGauges {
    not_after_ms: i64,
    max_managers: u32,
    limits: BTreeMap<Pool, Limits>,
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
            not_after_ms: license.not_after.0,
            max_managers: license.max_managers,
            limits,
        }
    }
}

/// The section-6.3 gauges.
pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    license: Option<&LicenseGauges>,
    in_grace: &BTreeMap<Pool, u64>,
    live_managers: Option<u64>,
) -> Result<(), std::fmt::Error> {
    if let Some(l) = license {
        let (name, help) = (
            "tenure_license_expiry_timestamp_seconds",
            "When the license in force expires (not_after).",
        );
        // A whole second is written as an integer (the encoder writes any
        // f64 with a `.0`), so the sample reads as it always has; Prometheus
        // takes both the same. Milliseconds since the epoch fit an f64 exactly.
        if l.not_after_ms % 1000 == 0 {
            gauge(encoder, name, help, l.not_after_ms / 1000)?;
        } else {
            gauge(encoder, name, help, l.not_after_ms as f64 / 1000.0)?;
        }
        gauge(
            encoder,
            "tenure_license_max_managers",
            "Managers the license lets serve.",
            l.max_managers,
        )?;
        let limit = |pick: fn(&Limits) -> Option<u64>| {
            l.limits
                .iter()
                .filter_map(move |(pool, limits)| pick(limits).map(|v| (pool, v)))
        };
        pool_gauge(
            encoder,
            "tenure_license_max_servers",
            "The license's max_servers per pool.",
            limit(|l| l.0),
        )?;
        pool_gauge(
            encoder,
            "tenure_license_max_total_cores",
            "The license's max_total_cores per pool.",
            limit(|l| l.1),
        )?;
    }
    // Every licensed pool shows, 0 included, so an alert can tell "none in
    // grace" from "not measured".
    let pools = license.into_iter().flat_map(|l| l.limits.keys());
    pool_gauge(
        encoder,
        "tenure_grants_in_grace",
        "Held grants not renewed for over lease_ttl, per pool.",
        pools.map(|pool| (pool, in_grace.get(pool).copied().unwrap_or(0))),
    )?;
    if let Some(n) = live_managers {
        gauge(
            encoder,
            "tenure_managers_live",
            "Managers live in the registry, as this one judges.",
            n,
        )?;
    }
    Ok(())
}
