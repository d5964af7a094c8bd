//! `--limit ENV/PRODUCT:servers=4,cores-per-server=16,total-cores=48`.

use tenure_core::license::Limits;
use tenure_core::names::Name;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("--limit {0:?}: expected ENV/PRODUCT:servers=N,cores-per-server=N,total-cores=N")]
    Shape(String),
    #[error("--limit {spec:?}: {part}")]
    Name { spec: String, part: String },
    #[error(
        "--limit {spec:?}: unknown limit {key:?}; use servers, cores-per-server or total-cores"
    )]
    UnknownKey { spec: String, key: String },
    #[error("--limit {spec:?}: {part:?} needs a whole number of at least 1")]
    BadValue { spec: String, part: String },
    #[error("--limit {spec:?}: {key} is given twice")]
    Duplicate { spec: String, key: String },
    #[error("--limit {spec:?}: {pool} is already limited by an earlier --limit")]
    DuplicatePool { spec: String, pool: String },
}

pub struct PoolLimit {
    pub environment: Name,
    pub product: Name,
    pub limits: Limits,
}

pub fn parse(spec: &str) -> Result<PoolLimit, LimitError> {
    let shape = || LimitError::Shape(spec.to_owned());
    let (pool, list) = spec.split_once(':').ok_or_else(shape)?;
    let (environment, product) = pool.split_once('/').ok_or_else(shape)?;
    let name = |field: &'static str, text: &str| {
        Name::parse(field, text).map_err(|e| LimitError::Name {
            spec: spec.to_owned(),
            part: e.to_string(),
        })
    };
    let environment = name("environment", environment)?;
    let product = name("product", product)?;
    let mut limits = Limits::default();
    if list.trim() != "unlimited" {
        for part in list.split(',') {
            set(&mut limits, spec, part)?;
        }
    }
    Ok(PoolLimit {
        environment,
        product,
        limits,
    })
}

fn set(limits: &mut Limits, spec: &str, part: &str) -> Result<(), LimitError> {
    let (key, value) = part.split_once('=').ok_or_else(|| LimitError::BadValue {
        spec: spec.to_owned(),
        part: part.to_owned(),
    })?;
    let key = key.trim();
    let slot = match key {
        "servers" => &mut limits.max_servers,
        "cores-per-server" => &mut limits.max_cores_per_server,
        "total-cores" => &mut limits.max_total_cores,
        _ => {
            return Err(LimitError::UnknownKey {
                spec: spec.to_owned(),
                key: key.to_owned(),
            });
        }
    };
    let n = value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| LimitError::BadValue {
            spec: spec.to_owned(),
            part: part.to_owned(),
        })?;
    if slot.replace(n).is_some() {
        return Err(LimitError::Duplicate {
            spec: spec.to_owned(),
            key: key.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_protocol_example() {
        let p = parse("production/vdp:servers=4,cores-per-server=16,total-cores=48").expect("ok");
        assert_eq!(p.environment.as_str(), "production");
        assert_eq!(p.limits.max_servers, Some(4));
        assert_eq!(p.limits.max_cores_per_server, Some(16));
        assert_eq!(p.limits.max_total_cores, Some(48));
        let u = parse("dev/vdp:unlimited").expect("ok");
        assert_eq!(u.limits, Limits::default());
    }

    #[test]
    fn errors_name_the_part() {
        let msg = |s: &str| parse(s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg("production/vdp:servers=x").contains("\"servers=x\""));
        assert!(msg("production/vdp:servers=0").contains("\"servers=0\""));
        assert!(msg("production/vdp:cpus=4").contains("\"cpus\""));
        assert!(msg("production/vdp:servers=1,servers=2").contains("servers is given twice"));
        assert!(msg("productionvdp:servers=1").contains("expected ENV/PRODUCT"));
        assert!(msg("production/vdp").contains("expected ENV/PRODUCT"));
        assert!(msg("prod uction/vdp:servers=1").contains("environment"));
    }
}
