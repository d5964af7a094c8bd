//! This manager's view of itself: the last heartbeat, whether it serves, and
//! what `/v1/health` and `/pingLicenseManager` say about it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tenure_core::health::{self, NotServing};
use tenure_core::manager::RecordedStep;
use tenure_core::{ErrorCode, UnixMillis};
use tenure_storage::{ClockReport, Heartbeat};

/// The result of the latest heartbeat attempt.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    /// The last heartbeat that reached storage, with the monotonic instant
    /// its attempt began.
    pub last: Option<(Duration, Heartbeat)>,
    /// Why the latest attempt failed, if it did.
    pub last_error: Option<String>,
}

/// How long a step stays among the health warnings after it was seen, when
/// it holds no deadline back.
const STEP_WARNING_FOR_MS: i64 = 3_600_000;

/// The health warning a caller without a token gets for a failed heartbeat.
pub const HEARTBEAT_FAILED: &str = "last heartbeat failed: storage is unreachable (the manager's log, or /v1/health with a viewer token, has the detail)";

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
    pub storage_clock: StorageClockView,
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

/// Steps of the storage clock (M9) and its high-water mark (T3).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StorageClockView {
    /// How far deadlines are held back now for forward steps.
    pub correction_ms: i64,
    /// The latest storage instant a manager recorded; the license is
    /// judged no earlier (T3).
    pub high_water_ms: Option<i64>,
    /// Steps recorded in storage, by any manager.
    pub steps: u64,
    /// Steps this manager found since it started.
    pub steps_seen_here: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_step: Option<StepView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// Positive forward, negative back.
    pub size_ms: i64,
    /// Storage time at which it was found.
    pub seen_ms: i64,
    /// The manager that found it.
    pub node_id: String,
    /// Until when (storage time) a forward step holds deadlines back.
    pub until_ms: i64,
}

impl StorageClockView {
    fn of(c: &ClockReport) -> Self {
        Self {
            correction_ms: c.correction_ms,
            high_water_ms: c.high_water.map(|h| h.0),
            steps: c.recorded.count,
            steps_seen_here: c.seen,
            last_step: c.recorded.last.as_ref().map(|s| StepView {
                size_ms: s.step.size_ms,
                seen_ms: s.step.seen_at.0,
                node_id: s.node_id.clone(),
                until_ms: s.until.0,
            }),
        }
    }
}

fn step_warning(s: &RecordedStep, now: UnixMillis, correction_ms: i64) -> Option<String> {
    let recent = now.millis_since(s.step.seen_at).abs() < STEP_WARNING_FOR_MS;
    (recent || correction_ms > 0).then(|| {
        let held = if correction_ms > 0 {
            format!(
                "; deadlines are held back by {correction_ms} ms until {}",
                tenure_core::rfc3339::display(s.until)
            )
        } else {
            String::new()
        };
        format!("{} (found by {}){held}", s.step, s.node_id)
    })
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
    /// Whether this manager serves at monotonic instant `mono_now` (M6): only
    /// on the word of a heartbeat recent enough that no peer can yet take it
    /// for dead, and not after one failed. A failed heartbeat stops traffic
    /// at once, so the load balancer moves to the peer; a hung one stops it
    /// when the window closes.
    pub fn serving(&self, mono_now: Duration) -> Result<(), NotServing> {
        let started = self.last.as_ref().map(|(at, _)| *at);
        match &self.last {
            Some((_, hb)) if health::confirmed(started, self.last_error.is_some(), mono_now) => {
                hb.serving.clone()
            }
            _ => Err(NotServing::StorageUnavailable),
        }
    }

    pub fn refusal_code(&self, mono_now: Duration) -> Option<(ErrorCode, String)> {
        self.serving(mono_now)
            .err()
            .map(|e| (e.code(), e.to_string()))
    }

    /// `detail`: whether the caller may see why storage failed (database
    /// host, user, driver text); a caller without a token reads that it
    /// failed and where the detail is.
    pub fn health(
        &self,
        node_id: &str,
        mono_now: Duration,
        liveness: Duration,
        max_skew: Duration,
        detail: bool,
    ) -> HealthView {
        let serving = self.serving(mono_now);
        let started = self.last.as_ref().map(|(at, _)| *at);
        let storage_ok = health::confirmed(started, self.last_error.is_some(), mono_now);
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
            warnings.push(if detail {
                format!("last heartbeat failed: {e}")
            } else {
                HEARTBEAT_FAILED.to_owned()
            });
        } else if self.last.is_some() && !storage_ok {
            warnings.push(format!(
                "no heartbeat has succeeded for {} s",
                health::SERVE_WINDOW.as_secs()
            ));
        }
        let storage_clock = hb.map_or_else(StorageClockView::default, |h| {
            if let Some(w) = h
                .clock
                .recorded
                .last
                .as_ref()
                .and_then(|s| step_warning(s, h.storage_now, h.clock.correction_ms))
            {
                warnings.push(w);
            }
            StorageClockView::of(&h.clock)
        });
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
            storage_clock,
            managers,
            warnings,
        }
    }
}
