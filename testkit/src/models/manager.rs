//! The manager's reference: what the transactions of the pure decisions
//! would have written (the held grants and the usage rows), and the
//! invariants any set of held grants and any denial must keep.

use std::collections::BTreeMap;
use tenure_core::license::License;
use tenure_core::manager::{Denial, HeldGrant, Mutation};
use tenure_core::wire::{EndReason, GrantRequest, Instance, PoolKey, UsageRow};
use tenure_core::{GrantId, UnixMillis};

/// The smallest store that applies mutations: what a transaction would write.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub held: BTreeMap<GrantId, HeldGrant>,
    pub usage: Vec<UsageRow>,
}

impl Applied {
    /// Applies `mutations` in order. A mutation no store could apply (a
    /// second grant under one id, a renewal or an end of a grant not held)
    /// is a broken decision and panics.
    pub fn apply(&mut self, mutations: &[Mutation]) {
        for m in mutations {
            match m {
                Mutation::Insert(g) => {
                    assert!(
                        self.held.insert(g.grant_id, g.clone()).is_none(),
                        "duplicate id"
                    );
                }
                Mutation::Renew { grant_id, .. } => {
                    let g = self.held.get_mut(grant_id).expect("renew of a held grant");
                    g.apply_renewal(m);
                }
                Mutation::End { grant_id, usage } => {
                    assert!(self.held.remove(grant_id).is_some(), "end of a held grant");
                    self.usage.push(usage.clone());
                }
            }
        }
    }

    pub fn ended(&self, id: GrantId) -> Option<EndReason> {
        self.usage_of(id).map(|u| u.end_reason)
    }

    /// The usage row grant `id` left, if it ended.
    pub fn usage_of(&self, id: GrantId) -> Option<&UsageRow> {
        self.usage.iter().rev().find(|u| u.grant_id == id)
    }

    pub fn by_instance(&self, i: &Instance) -> Option<&HeldGrant> {
        self.held.values().find(|g| &g.instance == i)
    }
}

/// I1, M1 and M3 over the grants held at `now`: each in a licensed pool and
/// within its limits, and no instance holding two.
pub fn check_held(lic: &License, s: &Applied, now: UnixMillis) -> Result<(), String> {
    let mut per_pool: BTreeMap<PoolKey, (u64, u64)> = BTreeMap::new();
    let mut instances: BTreeMap<&Instance, usize> = BTreeMap::new();
    for g in s.held.values().filter(|g| g.is_held_at(now)) {
        let Some(limits) = lic.limits_for(&g.instance.pool()) else {
            return Err(format!("held grant in an unlicensed pool: {g:?}"));
        };
        if let Some(per) = limits.max_cores_per_server
            && u64::from(g.facts.cores) > per
        {
            return Err(format!("M1: {} cores over {per} per server", g.facts.cores));
        }
        let e = per_pool.entry(g.instance.pool()).or_default();
        e.0 += 1;
        e.1 += u64::from(g.facts.cores);
        *instances.entry(&g.instance).or_default() += 1;
    }
    for (pool, (servers, cores)) in &per_pool {
        let l = lic.limits_for(pool).cloned().unwrap_or_default();
        if l.max_servers.is_some_and(|m| *servers > m) {
            return Err(format!("I1 servers {pool:?}"));
        }
        if l.max_total_cores.is_some_and(|m| *cores > m) {
            return Err(format!("I1 cores {pool:?}"));
        }
    }
    if !instances.values().all(|n| *n == 1) {
        return Err("M3: an instance holds two grants".into());
    }
    Ok(())
}

/// No spurious denial: a grant denial must name a limit that binds given
/// what is held at `now`, or a license not valid at `now`.
pub fn check_denial(
    d: &Denial,
    lic: &License,
    s: &Applied,
    r: &GrantRequest,
    now: UnixMillis,
) -> Result<(), String> {
    let others: Vec<_> = s
        .held
        .values()
        .filter(|g| {
            g.is_held_at(now) && g.instance.pool() == r.instance.pool() && g.instance != r.instance
        })
        .collect();
    let servers = others.len() as u64;
    let cores: u64 = others.iter().map(|g| u64::from(g.facts.cores)).sum();
    let l = lic.limits_for(&r.instance.pool());
    let asked = u64::from(r.facts.cores);
    let binds = match d {
        Denial::EnvironmentNotLicensed { .. } | Denial::ProductNotLicensed { .. } => l.is_none(),
        Denial::CoresPerServerExceeded { limit, .. } => asked > *limit,
        Denial::ServersExceeded { limit, held, .. } => *held == servers && servers >= *limit,
        Denial::TotalCoresExceeded { limit, held, .. } => *held == cores && cores + asked > *limit,
        Denial::LicenseExpired { .. } | Denial::LicenseNotYetValid { .. } => {
            now < lic.not_before || now >= lic.not_after
        }
        _ => false,
    };
    if binds {
        Ok(())
    } else {
        Err(format!(
            "unexpected denial {d:?} ({servers} servers and {cores} cores held, {asked} asked)"
        ))
    }
}
