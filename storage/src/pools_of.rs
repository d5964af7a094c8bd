//! Which pool each grant is in, as far as this manager has seen. A grant
//! never moves to another pool and its id is never reused, so an entry never
//! goes stale; at worst it names a grant that has ended. A batch that names
//! known grants locks their pools first and reads the grants once, where it
//! would otherwise read them to learn their pools, lock, and read them again.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use tenure_core::GrantId;
use tenure_core::manager::HeldGrant;
use tenure_core::wire::PoolKey;

/// Grants remembered before the map starts again empty: about 40 MB at
/// most, for a fleet of a million grants. A miss costs one read, not a
/// wrong answer.
const MAX_GRANTS: usize = 1 << 20;
/// Distinct pools remembered: a license names a handful.
const MAX_POOLS: usize = 4096;

#[derive(Default)]
struct Known {
    pools: Vec<PoolKey>,
    by_grant: BTreeMap<GrantId, u32>,
}

impl Known {
    fn clear(&mut self) {
        self.pools.clear();
        self.by_grant.clear();
    }

    fn pool_index(&mut self, pool: &PoolKey) -> Option<u32> {
        if let Some(at) = self.pools.iter().position(|p| p == pool) {
            return u32::try_from(at).ok();
        }
        if self.pools.len() >= MAX_POOLS {
            self.clear();
        }
        self.pools.push(pool.clone());
        u32::try_from(self.pools.len() - 1).ok()
    }
}

#[derive(Default)]
pub(crate) struct PoolsOf {
    known: Mutex<Known>,
}

impl PoolsOf {
    fn lock(&self) -> MutexGuard<'_, Known> {
        // Every update leaves the maps consistent before it could panic.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pools of the `ids` this manager knows, and the ids it does not.
    pub fn lookup(&self, ids: &[GrantId]) -> (Vec<PoolKey>, Vec<GrantId>) {
        let known = self.lock();
        let mut pools = Vec::new();
        let mut unknown = Vec::new();
        for id in ids {
            let pool = known
                .by_grant
                .get(id)
                .and_then(|&at| known.pools.get(at as usize));
            match pool {
                Some(p) => pools.push(p.clone()),
                None => unknown.push(*id),
            }
        }
        (pools, unknown)
    }

    /// Forgets the `ended` grants and learns the pools of `held`, under
    /// one lock.
    pub fn settle(&self, ended: &[GrantId], held: &[HeldGrant]) {
        if ended.is_empty() && held.is_empty() {
            return;
        }
        let mut known = self.lock();
        for id in ended {
            known.by_grant.remove(id);
        }
        for g in held {
            if known.by_grant.contains_key(&g.grant_id) {
                continue;
            }
            if known.by_grant.len() >= MAX_GRANTS {
                known.clear();
            }
            if let Some(at) = known.pool_index(&g.instance.pool()) {
                known.by_grant.insert(g.grant_id, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_core::UnixMillis;
    use tenure_core::names::{Hostname, Name};
    use tenure_core::wire::{HostFacts, Instance};

    fn id(n: u64) -> GrantId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&n.to_be_bytes());
        GrantId::from_random(b)
    }

    fn held(n: u64, env: &str) -> HeldGrant {
        HeldGrant {
            grant_id: id(n),
            instance: Instance {
                environment: Name::parse("environment", env).expect("valid name"),
                product: Name::parse("product", "vdp").expect("valid name"),
                hostname: Hostname::parse("vdp1.example.com").expect("valid host"),
                port: 8080,
            },
            facts: HostFacts {
                cores: 4,
                ip: None,
                version: None,
            },
            granted_at: UnixMillis(0),
            last_renewed: UnixMillis(0),
            held_until: UnixMillis(1),
            client_skew_ms: None,
        }
    }

    #[test]
    fn learned_grants_are_found_and_forgotten_ones_are_not() {
        let p = PoolsOf::default();
        let (a, b) = (held(1, "production"), held(2, "test"));
        p.settle(&[], &[a.clone(), b.clone()]);
        let (pools, unknown) = p.lookup(&[id(1), id(2), id(3)]);
        assert_eq!(pools, vec![a.instance.pool(), b.instance.pool()]);
        assert_eq!(unknown, vec![id(3)]);
        p.settle(&[id(1)], &[]);
        let (pools, unknown) = p.lookup(&[id(1), id(2)]);
        assert_eq!(pools, vec![b.instance.pool()]);
        assert_eq!(unknown, vec![id(1)]);
    }

    #[test]
    fn a_full_map_starts_again_empty() {
        let p = PoolsOf::default();
        let first = held(0, "production");
        p.settle(&[], std::slice::from_ref(&first));
        {
            let mut known = p.lock();
            for n in 1..MAX_GRANTS as u64 {
                known.by_grant.insert(id(n), 0);
            }
        }
        p.settle(&[], &[held(u64::MAX, "production")]);
        let (pools, unknown) = p.lookup(&[id(0), id(u64::MAX)]);
        assert_eq!(pools, vec![first.instance.pool()]);
        assert_eq!(unknown, vec![id(0)]);
        assert_eq!(p.lock().by_grant.len(), 1);
    }
}
