use super::args::IssueArgs;
use super::limits::{self, LimitError};
use super::summary;
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use tenure_core::duration::parse_duration;
use tenure_core::license::{self, License, SecretKey};
use tenure_core::names::Name;
use tenure_core::{UnixMillis, rfc3339};

pub fn run(args: &IssueArgs) -> anyhow::Result<()> {
    let key_text = std::fs::read_to_string(&args.secret_key)
        .with_context(|| format!("cannot read {}", args.secret_key.display()))?;
    let key = SecretKey::from_armoured(&key_text)
        .with_context(|| format!("{}", args.secret_key.display()))?;
    let now = now_whole_seconds();
    let time = |flag: &str, value: &Option<String>| match value {
        None => Ok(now),
        Some(text) => rfc3339::parse(text).with_context(|| format!("--{flag}")),
    };
    let not_after = rfc3339::parse(&args.not_after).context("--not-after")?;
    // An already expired license (for tests and demos) starts when it ends.
    let not_before = match &args.not_before {
        None => now.min(not_after),
        Some(_) => time("not-before", &args.not_before)?,
    };
    let license = License {
        license_id: args.license_id.clone(),
        licensee: args.licensee.clone(),
        issued_at: time("issued-at", &args.issued_at)?,
        not_before,
        not_after,
        max_managers: args.max_managers,
        grace_period_s: grace_seconds(&args.grace_period)?,
        limits: pool_limits(&args.limits)?,
        extra: BTreeMap::new(),
    };
    if license.not_after < now {
        tracing::warn!(
            "this license expired at {}: managers will refuse it",
            rfc3339::display(license.not_after)
        );
    }
    let text = license::sign(&license, &key)?;
    std::fs::write(&args.out, &text)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} (signed with key {})",
        args.out.display(),
        key.key_id()
    );
    print!("{}", summary::license(&license));
    Ok(())
}

fn grace_seconds(text: &str) -> anyhow::Result<u64> {
    let d = parse_duration(text).context("--grace-period")?;
    if d.subsec_nanos() != 0 || d.as_secs() == 0 {
        bail!("--grace-period {text:?}: must be a whole number of seconds, at least 1s");
    }
    Ok(d.as_secs())
}

type PoolLimits = BTreeMap<Name, BTreeMap<Name, license::Limits>>;

fn pool_limits(specs: &[String]) -> anyhow::Result<PoolLimits> {
    let mut out: BTreeMap<_, BTreeMap<_, _>> = BTreeMap::new();
    for spec in specs {
        let p = limits::parse(spec)?;
        let pool = format!("{}/{}", p.environment, p.product);
        let products = out.entry(p.environment).or_default();
        if products.insert(p.product, p.limits).is_some() {
            return Err(LimitError::DuplicatePool {
                spec: spec.clone(),
                pool,
            }
            .into());
        }
    }
    Ok(out)
}

/// Whole seconds, so the default times read back the way a vendor would type them.
fn now_whole_seconds() -> UnixMillis {
    let now = super::wall_now();
    UnixMillis(now.0 - now.0.rem_euclid(1000))
}
