//! This manager's view of itself: the last heartbeat, whether it serves, and
//! what `/v1/health` and `/pingLicenseManager` say about it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tenure_core::health::{self, NotServing};
use tenure_core::{ErrorCode, UnixMillis};
use tenure_storage::Heartbeat;

/// The result of the latest heartbeat attempt.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    /// The last heartbeat that reached storage, with the local time it was taken.
    pub last: Option<(UnixMillis, Heartbeat)>,
    /// Why the latest attempt failed, if it did.
    pub last_error: Option<String>,
}

/// `/v1/health` body.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub node_id: String,
    pub serving: bool,
    /// `serving`, or `refused` with `reason` saying why.
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub storage_ok: bool,
    pub license_id: Option<String>,
    pub storage_time_ms: Option<i64>,
    pub clock_offsets: ClockOffsets,
    pub managers: Vec<PeerView>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClockOffsets {
    /// Storage clock minus this manager's clock (T4).
    pub storage_ms: Option<i64>,
    /// Storage clock minus each peer's clock, as the peers measured it.
    pub peers_ms: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub node_id: String,
    pub live: bool,
    pub last_seen_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<i64>,
}

impl NodeState {
    /// Whether this manager serves at local time `now`. A heartbeat older than
    /// the liveness window means storage stopped answering us.
    pub fn serving(&self, now: UnixMillis, liveness: Duration) -> Result<(), NotServing> {
        // The latest heartbeat failing means storage is unreachable from here
        // now: stop taking traffic at once rather than when the last good
        // heartbeat ages out, so the load balancer moves to the peer.
        if self.last_error.is_some() {
            return Err(NotServing::StorageUnavailable);
        }
        match &self.last {
            Some((at, hb)) if now < at.saturating_add(liveness) => hb.serving.clone(),
            _ => Err(NotServing::StorageUnavailable),
        }
    }

    pub fn refusal_code(&self, now: UnixMillis, liveness: Duration) -> Option<(ErrorCode, String)> {
        self.serving(now, liveness)
            .err()
            .map(|e| (e.code(), e.to_string()))
    }

    pub fn health(
        &self,
        node_id: &str,
        now: UnixMillis,
        liveness: Duration,
        max_skew: Duration,
    ) -> HealthView {
        let serving = self.serving(now, liveness);
        let fresh = self
            .last
            .as_ref()
            .filter(|(at, _)| now < at.saturating_add(liveness));
        let storage_ok = fresh.is_some() && self.last_error.is_none();
        let hb = self.last.as_ref().map(|(_, hb)| hb);
        let mut peers_ms = BTreeMap::new();
        let mut managers = Vec::new();
        if let Some(hb) = hb {
            for r in &hb.managers {
                if let Some(o) = r.clock_offset_ms {
                    peers_ms.insert(r.node_id.clone(), o);
                }
                managers.push(PeerView {
                    node_id: r.node_id.clone(),
                    live: r.is_live(hb.storage_now, liveness),
                    last_seen_ms: r.last_seen.0,
                    clock_offset_ms: r.clock_offset_ms,
                });
            }
        }
        let storage_ms = hb.map(|h| h.clock_offset_ms);
        let mut warnings: Vec<String> =
            health::skew_warnings(peers_ms.iter().map(|(n, o)| (n.as_str(), *o)), max_skew)
                .into_iter()
                .map(|w| w.to_string())
                .collect();
        if let Some(e) = &self.last_error {
            warnings.push(format!("last heartbeat failed: {e}"));
        }
        HealthView {
            node_id: node_id.to_owned(),
            serving: serving.is_ok(),
            role: if serving.is_ok() {
                "serving"
            } else {
                "refused"
            },
            reason: serving.err().map(|e| e.to_string()),
            storage_ok,
            license_id: hb.and_then(|h| h.license_id.clone()),
            storage_time_ms: hb.map(|h| h.storage_now.0),
            clock_offsets: ClockOffsets {
                storage_ms,
                peers_ms,
            },
            managers,
            warnings,
        }
    }
}
