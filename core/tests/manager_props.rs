//! Properties of manager decisions over random licenses and operation sequences:
//! I1 (no limit exceeded among held grants), M3 (a restart never takes a second
//! slot, and the grant it replaced hears `replaced`, naming its instance),
//! I10 (of the grants an instance was given, only the newest renews), M2
//! (reclaimable exactly at the deadline, not a millisecond before), M7 (before
//! `not_before` nothing is granted, renewed or ended but reclaims), and no
//! spurious denial (a denial names a limit that really binds).

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tenure_core::license::License;
use tenure_core::manager::{
    Denial, ManagerConfig, Mutation, PoolView, admin_release, grant, reclaim, release, renew,
    revoke,
};
use tenure_core::wire::{EndReason, GrantRequest, Instance};
use tenure_core::{GrantId, UnixMillis};
use tenure_testkit::models::manager::{check_denial, check_held};

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
    /// Renew any grant ever given, held or ended.
    RenewGiven(usize),
    RenewStale(u64),
    /// A grant or a renewal at a storage instant before the license's
    /// `not_before` (the storage clock set back), `now` unchanged after.
    BeforeNotBefore {
        grant: bool,
        pick: usize,
        early_s: u64,
    },
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
        2 => any::<usize>().prop_map(Op::RenewGiven),
        1 => any::<u64>().prop_map(Op::RenewStale),
        1 => (any::<bool>(), any::<usize>(), 1..100_000u64)
            .prop_map(|(grant, pick, early_s)| Op::BeforeNotBefore { grant, pick, early_s }),
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

/// What the property expects of M3 and I10, kept apart from the decisions:
/// every grant given, and which ones a newer grant of their instance took
/// over while they were still held.
#[derive(Debug, Default)]
struct Given {
    grants: Vec<(GrantId, Instance)>,
    replaced: BTreeMap<GrantId, Instance>,
}

impl Given {
    /// Records grant `new` of `instance`; `held_before` is the grant the
    /// instance held (at the decision's instant) before it.
    fn granted(&mut self, new: GrantId, instance: &Instance, held_before: Option<GrantId>) {
        if let Some(old) = held_before {
            self.replaced.insert(old, instance.clone());
        }
        self.grants.push((new, instance.clone()));
    }

    fn newest_of(&self, instance: &Instance) -> Option<GrantId> {
        self.grants
            .iter()
            .rev()
            .find(|(_, i)| i == instance)
            .map(|(g, _)| *g)
    }
}

/// M3 and I10 for one renewal of a grant ever given.
fn check_renewal_of_given(
    given: &Given,
    gid: GrantId,
    instance: &Instance,
    outcome: &Result<tenure_core::wire::GrantResponse, Denial>,
    mutations: &[Mutation],
) -> Result<(), TestCaseError> {
    if outcome.is_ok() {
        prop_assert_eq!(
            given.newest_of(instance),
            Some(gid),
            "I10: an older grant of an instance renewed"
        );
    }
    match (given.replaced.get(&gid), outcome) {
        (Some(expected), Err(Denial::Replaced { instance: named })) => {
            prop_assert_eq!(named, expected, "M3: `replaced` names another instance");
            prop_assert!(mutations.is_empty(), "a replaced grant's renewal writes");
        }
        (Some(_), other) => prop_assert!(false, "M3: a replaced grant answered {other:?}"),
        (None, Err(Denial::Replaced { .. })) => {
            prop_assert!(false, "`replaced` for a grant no newer grant took over")
        }
        (None, _) => {}
    }
    Ok(())
}

/// M7: before `not_before` a decision writes nothing but reclaims.
fn check_not_yet_valid(
    outcome: Result<(), Denial>,
    mutations: &[Mutation],
) -> Result<(), TestCaseError> {
    match outcome {
        Ok(()) => prop_assert!(false, "M7: served before not_before"),
        Err(Denial::LicenseNotYetValid { .. }) => {}
        // A grant that ended answers from its usage row, as at any time.
        Err(Denial::Replaced { .. } | Denial::Revoked | Denial::UnknownGrant) => {}
        Err(d) => prop_assert!(false, "M7: unexpected denial {d:?}"),
    }
    for m in mutations {
        prop_assert!(
            matches!(m, Mutation::End { usage, .. } if usage.end_reason == EndReason::GraceExceeded),
            "M7: {m:?} before not_before"
        );
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
        let mut given = Given::default();
        for op in ops {
            match op {
                Op::Grant { env, product, host, port, cores } => {
                    let r = req(env, product, host, port, cores);
                    let before = s.held.values().filter(|g| g.is_held_at(now)).count();
                    let held_before = s
                        .by_instance(&r.instance)
                        .filter(|g| g.is_held_at(now))
                        .map(|g| g.grant_id);
                    let had = held_before.is_some();
                    let pool: Vec<_> = s.held.values().filter(|g| g.instance.pool() == r.instance.pool()).cloned().collect();
                    let view = PoolView::from_grants(&pool, &r.instance, now);
                    let new = id(next_id);
                    let d = grant(&cfg, &lic, &view, &r, now, new);
                    next_id += 1;
                    if d.outcome.is_ok() {
                        given.granted(new, &r.instance, held_before);
                    }
                    if let Err(denial) = &d.outcome {
                        check_denial(denial, &lic, &s, &r, now).map_err(TestCaseError::fail)?;
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
                Op::RenewGiven(i) if !given.grants.is_empty() => {
                    let (gid, instance) = given.grants[i % given.grants.len()].clone();
                    let d = renew(&cfg, &lic, s.held.get(&gid), s.usage_of(gid), None, now);
                    check_renewal_of_given(&given, gid, &instance, &d.outcome, &d.mutations)?;
                    s.apply(&d.mutations);
                }
                Op::RenewGiven(_) => {}
                Op::BeforeNotBefore { grant: true, pick, early_s } => {
                    let early = UnixMillis(lic.not_before.0 - early_s as i64 * 1000);
                    let r = req(pick % 2, (pick / 2) % 2, (pick / 4) % 6, 1, 1);
                    let pool: Vec<_> = s.held.values().filter(|g| g.instance.pool() == r.instance.pool()).cloned().collect();
                    let view = PoolView::from_grants(&pool, &r.instance, early);
                    let d = grant(&cfg, &lic, &view, &r, early, id(next_id));
                    next_id += 1;
                    prop_assert!(
                        matches!(d.outcome, Err(Denial::LicenseNotYetValid { .. })),
                        "M7: grant before not_before: {:?}", d.outcome
                    );
                    check_not_yet_valid(d.outcome.map(|_| ()), &d.mutations)?;
                    s.apply(&d.mutations);
                }
                Op::BeforeNotBefore { grant: false, pick, early_s } if !given.grants.is_empty() => {
                    let early = UnixMillis(lic.not_before.0 - early_s as i64 * 1000);
                    let (gid, instance) = given.grants[pick % given.grants.len()].clone();
                    let d = renew(&cfg, &lic, s.held.get(&gid), s.usage_of(gid), None, early);
                    check_renewal_of_given(&given, gid, &instance, &d.outcome, &d.mutations)?;
                    if s.held.contains_key(&gid) {
                        prop_assert!(
                            matches!(d.outcome, Err(Denial::LicenseNotYetValid { .. })),
                            "M7: renewal of a held grant before not_before: {:?}", d.outcome
                        );
                    }
                    check_not_yet_valid(d.outcome.map(|_| ()), &d.mutations)?;
                    s.apply(&d.mutations);
                }
                Op::BeforeNotBefore { .. } => {}
                Op::RenewStale(n) => {
                    let gid = id(n | (1 << 63));
                    let d = renew(&cfg, &lic, s.held.get(&gid), s.usage_of(gid), None, now);
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
            check_held(&lic, &s, now).map_err(TestCaseError::fail)?;
            check_reclaim_exact(&s)?;
        }
    }
}
