//! Properties of manager decisions over random licenses and operation sequences:
//! I1 (no limit exceeded among held grants), M3 (a restart never takes a second
//! slot), M2 (reclaimable exactly at the deadline, not a millisecond before),
//! and no spurious denial (a denial names a limit that really binds).

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tenure_core::UnixMillis;
use tenure_core::license::License;
use tenure_core::manager::{
    Denial, ManagerConfig, PoolView, admin_release, grant, reclaim, release, renew, revoke,
};
use tenure_core::wire::{GrantRequest, Instance, PoolKey};

const ENVS: [&str; 2] = ["production", "staging"];
const PRODUCTS: [&str; 2] = ["vdp", "sched"];

#[derive(Debug, Clone)]
enum Op {
    Grant {
        env: usize,
        product: usize,
        host: usize,
        port: u16,
        cores: u32,
    },
    Renew(usize),
    RenewStale(u64),
    Release(usize),
    Revoke(usize),
    AdminRelease {
        env: usize,
        product: usize,
        host: usize,
        port: u16,
    },
    Advance(u64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..2usize, 0..6usize, 1..3u16, 1..20u32)
            .prop_map(|(env, product, host, port, cores)| Op::Grant { env, product, host, port, cores }),
        3 => any::<usize>().prop_map(Op::Renew),
        1 => any::<u64>().prop_map(Op::RenewStale),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Revoke),
        1 => (0..2usize, 0..2usize, 0..6usize, 1..3u16)
            .prop_map(|(env, product, host, port)| Op::AdminRelease { env, product, host, port }),
        3 => (0..2_000u64).prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

fn opt_limit(max: u64) -> impl Strategy<Value = Option<u64>> {
    prop_oneof![1 => Just(None), 3 => (1..=max).prop_map(Some)]
}

fn a_license() -> impl Strategy<Value = License> {
    let pool = (opt_limit(5), opt_limit(16), opt_limit(40), any::<bool>());
    (proptest::collection::vec(pool, 4), 1..1_000u64).prop_map(|(pools, grace)| {
        let mut spec = Vec::new();
        for (i, (s, p, t, present)) in pools.into_iter().enumerate() {
            if present || i == 0 {
                spec.push((ENVS[i / 2], PRODUCTS[i % 2], limits(s, p, t)));
            }
        }
        license(&spec, grace)
    })
}

fn req(env: usize, product: usize, host: usize, port: u16, cores: u32) -> GrantRequest {
    request(
        ENVS[env],
        PRODUCTS[product],
        &format!("host{host}"),
        port,
        cores,
    )
}

fn check_limits(lic: &License, s: &Applied, now: UnixMillis) -> Result<(), TestCaseError> {
    let mut per_pool: BTreeMap<PoolKey, (u64, u64)> = BTreeMap::new();
    let mut instances: BTreeMap<Instance, usize> = BTreeMap::new();
    for g in s.held.values().filter(|g| g.is_held_at(now)) {
        let limits = lic.limits_for(&g.instance.pool());
        prop_assert!(limits.is_some(), "held grant in an unlicensed pool");
        if let Some(per) = limits.and_then(|l| l.max_cores_per_server) {
            prop_assert!(u64::from(g.facts.cores) <= per);
        }
        let e = per_pool.entry(g.instance.pool()).or_default();
        e.0 += 1;
        e.1 += u64::from(g.facts.cores);
        *instances.entry(g.instance.clone()).or_default() += 1;
    }
    for (pool, (servers, cores)) in &per_pool {
        let l = lic.limits_for(pool).cloned().unwrap_or_default();
        prop_assert!(
            l.max_servers.is_none_or(|m| *servers <= m),
            "I1 servers {pool:?}"
        );
        prop_assert!(
            l.max_total_cores.is_none_or(|m| *cores <= m),
            "I1 cores {pool:?}"
        );
    }
    prop_assert!(
        instances.values().all(|n| *n == 1),
        "M3: an instance holds two grants"
    );
    Ok(())
}

fn check_reclaim_exact(s: &Applied) -> Result<(), TestCaseError> {
    for g in s.held.values() {
        let before = UnixMillis(g.held_until.0 - 1);
        prop_assert!(
            reclaim([g], before).is_empty(),
            "reclaimed before its deadline"
        );
        prop_assert_eq!(
            reclaim([g], g.held_until).len(),
            1,
            "not reclaimed at its deadline"
        );
    }
    Ok(())
}

/// A denial must name a limit that binds given what is held.
fn check_denial(
    d: &Denial,
    lic: &License,
    s: &Applied,
    r: &GrantRequest,
    now: UnixMillis,
) -> Result<(), TestCaseError> {
    let others: Vec<_> = s
        .held
        .values()
        .filter(|g| {
            g.is_held_at(now) && g.instance.pool() == r.instance.pool() && g.instance != r.instance
        })
        .collect();
    let servers = others.len() as u64;
    let cores: u64 = others.iter().map(|g| u64::from(g.facts.cores)).sum();
    let l = lic.limits_for(&r.instance.pool()).cloned();
    let asked = u64::from(r.facts.cores);
    match d {
        Denial::EnvironmentNotLicensed { .. } | Denial::ProductNotLicensed { .. } => {
            prop_assert!(l.is_none())
        }
        Denial::CoresPerServerExceeded { limit, .. } => prop_assert!(asked > *limit),
        Denial::ServersExceeded { limit, held, .. } => {
            prop_assert_eq!(*held, servers);
            prop_assert!(servers >= *limit)
        }
        Denial::TotalCoresExceeded { limit, held, .. } => {
            prop_assert_eq!(*held, cores);
            prop_assert!(cores + asked > *limit)
        }
        other => prop_assert!(false, "unexpected denial {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_keep_every_invariant(lic in a_license(), ops in proptest::collection::vec(op(), 1..120)) {
        let cfg = ManagerConfig::default();
        let mut s = Applied::default();
        let mut now = T0;
        let mut next_id = 1u64;
        for op in ops {
            match op {
                Op::Grant { env, product, host, port, cores } => {
                    let r = req(env, product, host, port, cores);
                    let before = s.held.values().filter(|g| g.is_held_at(now)).count();
                    let had = s.by_instance(&r.instance).is_some_and(|g| g.is_held_at(now));
                    let pool: Vec<_> = s.held.values().filter(|g| g.instance.pool() == r.instance.pool()).cloned().collect();
                    let view = PoolView::from_grants(&pool, &r.instance, now);
                    let d = grant(&cfg, &lic, &view, &r, now, id(next_id));
                    next_id += 1;
                    if let Err(denial) = &d.outcome {
                        check_denial(denial, &lic, &s, &r, now)?;
                    }
                    s.apply(&d.mutations);
                    let after = s.held.values().filter(|g| g.is_held_at(now)).count();
                    if d.outcome.is_ok() && had {
                        prop_assert_eq!(after, before, "M3: a restart took a second slot");
                    }
                }
                Op::Renew(i) if !s.held.is_empty() => {
                    let g = s.held.values().nth(i % s.held.len()).cloned();
                    let d = renew(&cfg, &lic, g.as_ref(), None, None, now);
                    s.apply(&d.mutations);
                }
                Op::Renew(_) => {}
                Op::RenewStale(n) => {
                    let gid = id(n | (1 << 63));
                    let d = renew(&cfg, &lic, s.held.get(&gid), s.ended(gid), None, now);
                    prop_assert!(d.outcome.is_err());
                    prop_assert!(d.mutations.is_empty());
                }
                Op::Release(i) | Op::Revoke(i) if !s.held.is_empty() => {
                    let g = s.held.values().nth(i % s.held.len()).cloned();
                    let d = if matches!(op, Op::Release(_)) { release(g.as_ref(), now) } else { revoke(g.as_ref(), now) };
                    s.apply(&d.mutations);
                }
                Op::Release(_) | Op::Revoke(_) => {}
                Op::AdminRelease { env, product, host, port } => {
                    let r = req(env, product, host, port, 1);
                    let g = s.by_instance(&r.instance).cloned();
                    let d = admin_release(g.as_ref(), now);
                    prop_assert_eq!(d.outcome.is_ok(), g.as_ref().is_some_and(|g| g.is_held_at(now)));
                    s.apply(&d.mutations);
                }
                Op::Advance(secs) => now = UnixMillis(now.0 + secs as i64 * 1000),
                Op::Sweep => {
                    let m = reclaim(s.held.values(), now);
                    s.apply(&m);
                    prop_assert!(s.held.values().all(|g| g.is_held_at(now)));
                }
            }
            check_limits(&lic, &s, now)?;
            check_reclaim_exact(&s)?;
        }
    }
}
