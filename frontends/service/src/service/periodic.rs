//! The manager's periodic work, which each frontend runs on its own timers
//! off the request path: the heartbeat (M6, T4) that decides whether this
//! manager serves, and the sweep that ends grants past their deadline, keeps
//! usage and the audit trail within retention and refreshes the gauges.

use super::Service;
use tenure_core::health::{self, LIVENESS, MAX_CLOCK_SKEW};
use tenure_storage::Store;

impl<S: Store> Service<S> {
    /// One heartbeat (M6, T4): register, measure clock offsets, decide whether
    /// to serve, refresh the gauges. Blocking; frontends call it every 2 s.
    pub fn heartbeat(&self) {
        // Read before the transaction: the word it brings holds from here.
        let started = self.mono();
        let result = self
            .manager
            .heartbeat(&self.node_id, &*self.env.clock, LIVENESS);
        let mut node = self.node.write().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(hb) => {
                let was = node.last.as_ref().map(|(_, h)| &h.serving);
                if was != Some(&hb.serving) || node.last_error.is_some() {
                    match &hb.serving {
                        Ok(()) => tracing::info!(node = %self.node_id, "serving"),
                        Err(e) => tracing::warn!(node = %self.node_id, reason = %e, "not serving"),
                    }
                }
                for w in health::skew_warnings(
                    hb.managers
                        .iter()
                        .filter_map(|r| r.clock_offset_ms.map(|o| (r.node_id.as_str(), o))),
                    MAX_CLOCK_SKEW,
                ) {
                    tracing::warn!(%w, "clock skew");
                }
                self.metrics.set_serving(hb.serving.is_ok());
                self.metrics.set_live_managers(
                    hb.managers
                        .iter()
                        .filter(|r| r.is_live(hb.storage_now, LIVENESS))
                        .count(),
                );
                self.metrics.set_clock_offsets(
                    hb.managers
                        .iter()
                        .filter_map(|r| r.clock_offset_ms.map(|o| (r.node_id.clone(), o))),
                );
                self.metrics.set_storage_clock(&hb.clock);
                node.last = Some((started, hb));
                node.last_error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed: not serving until one succeeds");
                self.metrics.storage_error();
                self.metrics.set_serving(false);
                node.last_error = Some(e.to_string());
            }
        }
    }

    /// The periodic reclaim sweep and the held-grant gauges. Blocking.
    pub fn sweep(&self) {
        match self.manager.sweep(1000) {
            Ok(0) => {}
            Ok(n) => tracing::info!(reclaimed = n, "grants past their deadline ended"),
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
        self.usage_upkeep();
        self.prune_audit();
        let lease_ttl = self.manager.config().lease_ttl;
        let read = self.manager.read_at(|tx, at| {
            let stale_before = at.deadlines.saturating_sub(lease_ttl);
            Ok((
                tx.pool_totals(at.deadlines)?,
                tx.pool_in_grace(at.deadlines, stale_before)?,
            ))
        });
        if let Ok((totals, in_grace)) = read {
            self.metrics.set_held(totals.into_iter().map(|r| {
                (
                    r.pool.environment.to_string(),
                    r.pool.product.to_string(),
                    r.totals.servers,
                    r.totals.total_cores,
                )
            }));
            self.metrics.set_in_grace(in_grace.into_iter().map(|r| {
                (
                    r.pool.environment.to_string(),
                    r.pool.product.to_string(),
                    r.in_grace,
                )
            }));
        }
        if let Ok(license) = self.manager.license() {
            self.metrics.set_license(&license);
        }
    }
}
