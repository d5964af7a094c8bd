//! Whether a manager may serve (M6) and how it reports clock skew (T4, T5).

use crate::time::UnixMillis;
use std::time::Duration;

pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
pub const LIVENESS: Duration = Duration::from_secs(10);
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// How long after the start of its last successful heartbeat, on its own
/// monotonic clock, a manager may serve (M6, fails closed). A peer takes its
/// place only once storage time has passed its `last_seen + LIVENESS`, and
/// `last_seen` was read after this start: stopping two heartbeat periods
/// earlier leaves room for one lost heartbeat to be retried, and keeps
/// the two from serving together unless the storage clock steps forward by
/// more than those 4 s in between (M9 reports such a step).
pub const SERVE_WINDOW: Duration = LIVENESS.saturating_sub(HEARTBEAT_EVERY.saturating_mul(2));

/// M6, failing closed: whether a manager still has the storage's word that
/// it may serve. `last_ok_started` is the monotonic instant at which its last
/// successful heartbeat began (read before the heartbeat's transaction);
/// `last_failed` says the latest attempt failed. A heartbeat that hangs
/// counts against the window as a failed one would.
pub fn confirmed(last_ok_started: Option<Duration>, last_failed: bool, mono_now: Duration) -> bool {
    !last_failed && last_ok_started.is_some_and(|at| mono_now < at.saturating_add(SERVE_WINDOW))
}

/// One row of the managers registry. `live_since` restarts whenever a manager
/// comes back after being dead, so a returning manager queues behind the ones
/// that kept serving instead of displacing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerRecord {
    pub node_id: String,
    pub live_since: UnixMillis,
    pub last_seen: UnixMillis,
    /// Storage clock minus this manager's clock, measured at its last heartbeat.
    pub clock_offset_ms: Option<i64>,
    /// The random nonce of the process that holds this node id (M6); `None`
    /// in rows an older manager wrote.
    pub instance: Option<String>,
}

impl ManagerRecord {
    pub fn is_live(&self, now: UnixMillis, liveness: Duration) -> bool {
        now < self.last_seen.saturating_add(liveness)
    }
}

/// The registry row after process `instance` heartbeats as `node_id` at
/// storage time `now`, given the registry's `records`, or, when another
/// process holds `node_id` and is live, why this one must not serve (M6):
/// it leaves that row alone. A manager that becomes live is placed after
/// every manager already live, even one registered in the same
/// millisecond: the serving order is the order of registration (I7).
pub fn heartbeat(
    records: &[ManagerRecord],
    node_id: &str,
    instance: Option<&str>,
    now: UnixMillis,
    clock_offset_ms: Option<i64>,
    liveness: Duration,
) -> Result<ManagerRecord, NotServing> {
    let previous = records.iter().find(|r| r.node_id == node_id);
    let newest = records
        .iter()
        .filter(|r| r.node_id != node_id && r.is_live(now, liveness))
        .map(|r| r.live_since)
        .max();
    let live_since = match previous {
        Some(p) if p.is_live(now, liveness) => {
            if p.instance.as_deref() != instance {
                return Err(NotServing::DuplicateNodeId {
                    node_id: node_id.to_owned(),
                    live_since_ms: p.live_since.0,
                });
            }
            p.live_since
        }
        _ => newest.map_or(now, |n| now.max(UnixMillis(n.0.saturating_add(1)))),
    };
    Ok(ManagerRecord {
        node_id: node_id.to_owned(),
        live_since,
        last_seen: now,
        clock_offset_ms,
        instance: instance.map(str::to_owned),
    })
}

/// Live managers in serving order: longest live first, then by node id, so
/// every manager computes the same order from the same rows.
pub fn serving_order(
    records: &[ManagerRecord],
    now: UnixMillis,
    liveness: Duration,
) -> Vec<&ManagerRecord> {
    let mut live: Vec<&ManagerRecord> = records
        .iter()
        .filter(|r| r.is_live(now, liveness))
        .collect();
    live.sort_by(|a, b| {
        a.live_since
            .cmp(&b.live_since)
            .then_with(|| a.node_id.cmp(&b.node_id))
    });
    live
}

/// What the license's state is, as far as serving goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseState {
    Valid,
    Missing,
    /// `not_before` is still ahead of the storage clock (M7).
    NotYetValid {
        not_before: UnixMillis,
    },
    Expired,
}

/// Why a manager does not serve; `/pingLicenseManager` fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotServing {
    #[error("storage is unreachable")]
    StorageUnavailable,
    #[error("no license is installed")]
    NoLicense,
    #[error("the license is not valid before {}", crate::rfc3339::display(*not_before))]
    LicenseNotYetValid { not_before: UnixMillis },
    #[error("the license has expired")]
    LicenseExpired,
    #[error("{live} managers are live and the license allows {max}; this one is number {rank}")]
    TooManyManagers { live: usize, max: u32, rank: usize },
    #[error(
        "another live manager process uses node id {node_id:?} (live since {}); this one does not serve: give each manager its own --node-id",
        crate::rfc3339::display(UnixMillis(*live_since_ms))
    )]
    DuplicateNodeId { node_id: String, live_since_ms: i64 },
}

impl NotServing {
    pub const fn code(&self) -> crate::ErrorCode {
        match self {
            Self::StorageUnavailable => crate::ErrorCode::StorageUnavailable,
            Self::NoLicense | Self::LicenseExpired => crate::ErrorCode::LicenseExpired,
            Self::LicenseNotYetValid { .. } => crate::ErrorCode::LicenseNotYetValid,
            Self::TooManyManagers { .. } | Self::DuplicateNodeId { .. } => {
                crate::ErrorCode::TooManyManagers
            }
        }
    }
}

/// M6: `me` serves only if storage answers, the license is valid, and it is
/// among the first `max_managers` live managers in serving order. A manager
/// missing from the live set (its heartbeat has not landed) does not serve.
pub fn may_serve(
    me: &str,
    storage_ok: bool,
    license: &LicenseState,
    max_managers: u32,
    records: &[ManagerRecord],
    now: UnixMillis,
    liveness: Duration,
) -> Result<(), NotServing> {
    if !storage_ok {
        return Err(NotServing::StorageUnavailable);
    }
    match license {
        LicenseState::Valid => {}
        LicenseState::Missing => return Err(NotServing::NoLicense),
        LicenseState::NotYetValid { not_before } => {
            return Err(NotServing::LicenseNotYetValid {
                not_before: *not_before,
            });
        }
        LicenseState::Expired => return Err(NotServing::LicenseExpired),
    }
    let order = serving_order(records, now, liveness);
    let max = usize::try_from(max_managers).unwrap_or(usize::MAX);
    match order.iter().position(|r| r.node_id == me) {
        Some(rank) if rank < max => Ok(()),
        Some(rank) => Err(NotServing::TooManyManagers {
            live: order.len(),
            max: max_managers,
            rank: rank + 1,
        }),
        None => Err(NotServing::TooManyManagers {
            live: order.len() + 1,
            max: max_managers,
            rank: order.len() + 1,
        }),
    }
}

/// Offset of the storage clock from a local clock, from one round trip:
/// local time before the query, the storage time it returned, local time after.
/// Assumes the storage read happened mid-way, as NTP does.
pub fn clock_offset_ms(
    local_before: UnixMillis,
    storage: UnixMillis,
    local_after: UnixMillis,
) -> i64 {
    let mid = local_before
        .0
        .saturating_add(local_after.0.saturating_sub(local_before.0) / 2);
    storage.0.saturating_sub(mid)
}

/// A skew worth reporting (T4, T5). Reporting only: never an input to a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkewWarning {
    pub subject: String,
    pub offset_ms: i64,
}

impl std::fmt::Display for SkewWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "clock of {} is off by {} ms (threshold {} ms)",
            self.subject,
            self.offset_ms,
            MAX_CLOCK_SKEW.as_millis()
        )
    }
}

/// The offsets whose magnitude is above `threshold`, in input order.
pub fn skew_warnings<'a>(
    offsets: impl IntoIterator<Item = (&'a str, i64)>,
    threshold: Duration,
) -> Vec<SkewWarning> {
    let limit = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
    offsets
        .into_iter()
        .filter(|(_, o)| o.unsigned_abs() > limit.unsigned_abs())
        .map(|(s, o)| SkewWarning {
            subject: s.to_owned(),
            offset_ms: o,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMillis = UnixMillis(1_800_000_000_000);

    fn rec(id: &str, since_s: i64, seen_s: i64) -> ManagerRecord {
        ManagerRecord {
            node_id: id.into(),
            live_since: UnixMillis(T0.0 + since_s * 1000),
            last_seen: UnixMillis(T0.0 + seen_s * 1000),
            clock_offset_ms: None,
            instance: Some(format!("{id}-process")),
        }
    }

    fn at(s: i64) -> UnixMillis {
        UnixMillis(T0.0 + s * 1000)
    }

    #[test]
    fn liveness_is_ten_seconds_exclusive() {
        let r = rec("a", 0, 0);
        assert!(r.is_live(at(9), LIVENESS));
        assert!(r.is_live(UnixMillis(at(10).0 - 1), LIVENESS));
        assert!(!r.is_live(at(10), LIVENESS));
    }

    #[test]
    fn third_manager_is_refused_first_two_serve() {
        let rows = [rec("a", 0, 20), rec("b", 5, 20), rec("c", 6, 20)];
        let v = LicenseState::Valid;
        assert_eq!(may_serve("a", true, &v, 2, &rows, at(21), LIVENESS), Ok(()));
        assert_eq!(may_serve("b", true, &v, 2, &rows, at(21), LIVENESS), Ok(()));
        assert_eq!(
            may_serve("c", true, &v, 2, &rows, at(21), LIVENESS),
            Err(NotServing::TooManyManagers {
                live: 3,
                max: 2,
                rank: 3
            })
        );
        // With a 1-manager license only the longest-live one serves.
        assert!(may_serve("b", true, &v, 1, &rows, at(21), LIVENESS).is_err());
    }

    #[test]
    fn a_dead_manager_frees_its_place_and_queues_behind_on_return() {
        let rows = [rec("a", 0, 0), rec("b", 5, 20)];
        let v = LicenseState::Valid;
        assert_eq!(may_serve("b", true, &v, 1, &rows, at(21), LIVENESS), Ok(()));
        let back = heartbeat(&rows, "a", Some("a-new"), at(22), None, LIVENESS)
            .expect("a dead row is taken over");
        assert_eq!(back.live_since, at(22));
        let rows = [back, rec("b", 5, 22)];
        assert_eq!(may_serve("b", true, &v, 1, &rows, at(23), LIVENESS), Ok(()));
        assert!(may_serve("a", true, &v, 1, &rows, at(23), LIVENESS).is_err());
        let kept =
            heartbeat(&rows, "b", Some("b-process"), at(24), None, LIVENESS).expect("b is b");
        assert_eq!(kept.live_since, at(5));
    }

    #[test]
    fn storage_and_license_come_first() {
        let rows = [rec("a", 0, 1)];
        assert_eq!(
            may_serve("a", false, &LicenseState::Valid, 2, &rows, at(2), LIVENESS),
            Err(NotServing::StorageUnavailable)
        );
        assert_eq!(
            may_serve("a", true, &LicenseState::Expired, 2, &rows, at(2), LIVENESS),
            Err(NotServing::LicenseExpired)
        );
        assert!(may_serve("zz", true, &LicenseState::Valid, 2, &rows, at(2), LIVENESS).is_err());
    }

    #[test]
    fn a_license_not_yet_valid_is_not_served_and_says_until_when() {
        let rows = [rec("a", 0, 1)];
        let state = LicenseState::NotYetValid {
            not_before: UnixMillis(1_900_000_000_000),
        };
        let refused = may_serve("a", true, &state, 2, &rows, at(2), LIVENESS)
            .expect_err("M7: not served before not_before");
        assert_eq!(refused.code(), crate::ErrorCode::LicenseNotYetValid);
        assert_eq!(refused.code().retry_after_s(), Some(60));
        assert!(
            refused.to_string().contains("not valid before 2030-03-17"),
            "{refused}"
        );
        assert_eq!(
            NotServing::LicenseExpired.code(),
            crate::ErrorCode::LicenseExpired
        );
    }

    #[test]
    fn offsets_and_warnings() {
        assert_eq!(
            clock_offset_ms(UnixMillis(1000), UnixMillis(7050), UnixMillis(1100)),
            6000
        );
        assert_eq!(
            clock_offset_ms(UnixMillis(1000), UnixMillis(1050), UnixMillis(1100)),
            0
        );
        let w = skew_warnings(
            [("m1", 5000), ("m2", 5001), ("db", -7_200_000)],
            MAX_CLOCK_SKEW,
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].subject, "m2");
        assert_eq!(w[1].offset_ms, -7_200_000);
    }

    #[test]
    fn a_second_process_with_a_live_node_id_is_refused_and_leaves_the_row() {
        let row = rec("a", 0, 20);
        let dup = heartbeat(
            std::slice::from_ref(&row),
            "a",
            Some("intruder"),
            at(21),
            None,
            LIVENESS,
        );
        assert_eq!(
            dup,
            Err(NotServing::DuplicateNodeId {
                node_id: "a".into(),
                live_since_ms: at(0).0
            })
        );
        assert_eq!(
            dup.map_err(|e| e.code()),
            Err(crate::ErrorCode::TooManyManagers)
        );
        // A row an older manager wrote has no nonce: another process too.
        let legacy = ManagerRecord {
            instance: None,
            ..row.clone()
        };
        assert!(heartbeat(&[legacy], "a", Some("new"), at(21), None, LIVENESS).is_err());
        // Once the holder is dead the newcomer takes the id, live from now.
        let taken = heartbeat(&[row], "a", Some("intruder"), at(30), None, LIVENESS)
            .expect("a dead holder's id is free");
        assert_eq!(taken.live_since, at(30));
        assert_eq!(taken.instance.as_deref(), Some("intruder"));
    }

    #[test]
    fn serving_needs_a_recent_successful_heartbeat() {
        let s = Duration::from_secs;
        assert_eq!(SERVE_WINDOW, s(6));
        assert!(!confirmed(None, false, s(1)), "no heartbeat yet");
        assert!(confirmed(Some(s(10)), false, s(15)));
        assert!(!confirmed(Some(s(10)), false, s(16)), "window closed");
        assert!(
            !confirmed(Some(s(10)), true, s(11)),
            "latest attempt failed"
        );
    }

    #[test]
    fn managers_registering_in_one_millisecond_serve_in_registration_order() {
        let v = LicenseState::Valid;
        let first = heartbeat(&[], "z", Some("z1"), at(5), None, LIVENESS).expect("z");
        let rows = [first.clone()];
        let second = heartbeat(&rows, "a", Some("a1"), at(5), None, LIVENESS).expect("a");
        assert!(second.live_since > first.live_since);
        let rows = [first, second];
        assert_eq!(may_serve("z", true, &v, 1, &rows, at(5), LIVENESS), Ok(()));
        assert!(may_serve("a", true, &v, 1, &rows, at(5), LIVENESS).is_err());
    }
}
