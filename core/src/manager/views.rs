use super::held::HeldGrant;
use super::pool::PoolTotals;
use crate::license::License;
use crate::time::UnixMillis;
use crate::wire::{GrantState, GrantView, PoolKey, PoolUsage};
use std::time::Duration;

/// How `GET /v1/grants` shows a held grant at `now`.
pub fn grant_view(g: &HeldGrant, now: UnixMillis, lease_ttl: Duration) -> GrantView {
    let state = if now < g.last_renewed.saturating_add(lease_ttl) {
        GrantState::Active
    } else {
        GrantState::Grace
    };
    GrantView {
        grant_id: g.grant_id,
        instance: g.instance.clone(),
        facts: g.facts.clone(),
        state,
        granted_ms: g.granted_at.0,
        last_renewed_ms: g.last_renewed.0,
        held_until_ms: g.held_until.0,
        client_skew_ms: g.client_skew_ms,
    }
}

/// Usage of one pool against the license's limits for it.
pub fn pool_usage(license: &License, pool: &PoolKey, totals: PoolTotals) -> PoolUsage {
    let limits = license.limits_for(pool);
    PoolUsage {
        environment: pool.environment.clone(),
        product: pool.product.clone(),
        servers: totals.servers,
        total_cores: totals.total_cores,
        max_servers: limits.and_then(|l| l.max_servers),
        max_cores_per_server: limits.and_then(|l| l.max_cores_per_server),
        max_total_cores: limits.and_then(|l| l.max_total_cores),
    }
}
