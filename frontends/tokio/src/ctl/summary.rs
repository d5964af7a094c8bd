use std::fmt::Write;
use std::time::Duration;
use tenure_core::duration::format_duration;
use tenure_core::license::License;
use tenure_core::rfc3339::display;

/// The license as a person reads it.
pub fn license(l: &License) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "license id:    {}", l.license_id);
    let _ = writeln!(out, "licensee:      {}", l.licensee);
    let _ = writeln!(out, "issued at:     {}", display(l.issued_at));
    let _ = writeln!(out, "valid from:    {}", display(l.not_before));
    let _ = writeln!(out, "valid until:   {}", display(l.not_after));
    let _ = writeln!(out, "max managers:  {}", l.max_managers);
    let _ = writeln!(
        out,
        "grace period:  {}",
        format_duration(Duration::from_secs(l.grace_period_s))
    );
    let _ = writeln!(out, "limits:");
    for (environment, products) in &l.limits {
        for (product, limits) in products {
            let _ = writeln!(
                out,
                "  {environment}/{product}: servers={} cores-per-server={} total-cores={}",
                shown(limits.max_servers),
                shown(limits.max_cores_per_server),
                shown(limits.max_total_cores)
            );
        }
    }
    out
}

pub fn shown(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}
