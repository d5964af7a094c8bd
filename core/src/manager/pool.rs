use super::held::HeldGrant;
use crate::time::UnixMillis;
use crate::wire::Instance;

/// Servers and cores held in a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolTotals {
    pub servers: u64,
    pub total_cores: u64,
}

impl PoolTotals {
    pub fn add(&mut self, cores: u32) {
        self.servers = self.servers.saturating_add(1);
        self.total_cores = self.total_cores.saturating_add(u64::from(cores));
    }
}

/// What a grant decision needs to know of its pool, as read inside the
/// transaction that serialises the pool. Storage may build it with SQL
/// aggregates; [`PoolView::from_grants`] builds it from a full list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolView {
    /// Totals over grants still held at `now`, including `same_instance`.
    pub held: PoolTotals,
    /// The grant the requesting instance already holds, if any (M3).
    pub same_instance: Option<HeldGrant>,
    /// Grants of the pool past their deadline at `now`, to reclaim.
    pub expired: Vec<HeldGrant>,
}

impl PoolView {
    pub fn from_grants<'a>(
        grants: impl IntoIterator<Item = &'a HeldGrant>,
        instance: &Instance,
        now: UnixMillis,
    ) -> Self {
        let mut view = PoolView {
            held: PoolTotals::default(),
            same_instance: None,
            expired: Vec::new(),
        };
        for g in grants {
            if !g.is_held_at(now) {
                view.expired.push(g.clone());
                continue;
            }
            view.held.add(g.facts.cores);
            if &g.instance == instance {
                view.same_instance = Some(g.clone());
            }
        }
        view
    }
}
