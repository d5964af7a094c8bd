//! Usage reports (6.3) on every store: closed days rolled up once, the
//! watermark, retention that keeps reports exact, and what usage rows
//! record (M8). History is written days in the past, as the grants of a
//! manager that ran then would have left it: a real database's clock
//! cannot be moved.

use super::Backend;
use super::cases::{now, random, setup};
use super::fixtures::*;
use std::time::Duration;
use tenure_core::UnixMillis;
use tenure_core::manager::{HeldGrant, ManagerConfig, Mutation};
use tenure_core::report::{By, DAY_MS, ReportRow, day_start};
use tenure_core::wire::EndReason;
use tenure_core::{ErrorCode, GrantId};
use tenure_storage::{Manager, ROLLUP_DAYS_PER_TX, Store};

const H: i64 = 3_600_000;

fn held(host: &str, cores: u32, from: i64, until: i64) -> HeldGrant {
    let req = request("vdp", host, 1, cores);
    HeldGrant {
        grant_id: GrantId::from_random(random()),
        instance: req.instance,
        facts: req.facts,
        granted_at: UnixMillis(from),
        last_renewed: UnixMillis(from),
        held_until: UnixMillis(until),
        client_skew_ms: None,
    }
}

/// Writes one grant held over `[from, to)` that ended for `reason` (or is
/// still held, without one).
fn past<S: Store>(m: &Manager<S>, g: &HeldGrant, end: Option<(i64, EndReason)>) {
    m.store()
        .transaction(&mut |tx| {
            tx.apply(&Mutation::Insert(g.clone()))?;
            if let Some((at, reason)) = end {
                tx.apply(&Mutation::End {
                    grant_id: g.grant_id,
                    usage: g.usage(UnixMillis(at), reason),
                })?;
            }
            Ok(())
        })
        .expect("write history");
}

fn day(peak: (u64, u64), hours: (i64, i64), started: u64) -> [u64; 5] {
    [
        peak.0,
        peak.1,
        (hours.0 * H) as u64,
        (hours.1 * H) as u64,
        started,
    ]
}

fn figures(r: &ReportRow) -> [u64; 5] {
    [
        r.peak_servers,
        r.peak_cores,
        r.server_ms,
        r.core_ms,
        r.grants_started,
    ]
}

fn report<S: Store>(m: &Manager<S>, from: i64, to: i64, by: By) -> Vec<ReportRow> {
    m.usage_report(UnixMillis(from), Some(UnixMillis(to)), by)
        .expect("report")
        .rows
}

pub fn usage_reports_roll_up_and_prune<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let today = day_start(now(&m).0);
    let d0 = today - 3 * DAY_MS;
    let far = today + 20 * DAY_MS;
    // A: 1h-5h, 4 cores. B replaced by C in one millisecond (3h), C runs
    // into the next day and is revoked there. H is held throughout.
    past(
        &m,
        &held("a", 4, d0 + H, far),
        Some((d0 + 5 * H, EndReason::Released)),
    );
    let bc = held("bc", 2, d0 + 2 * H, far);
    past(&m, &bc, Some((d0 + 3 * H, EndReason::Replaced)));
    let c = HeldGrant {
        grant_id: GrantId::from_random(random()),
        granted_at: UnixMillis(d0 + 3 * H),
        ..bc
    };
    past(&m, &c, Some((d0 + DAY_MS + 2 * H, EndReason::Revoked)));
    past(&m, &held("h", 8, d0 + 4 * H, far), None);
    let expected = [
        day((3, 14), (4 + 1 + 21 + 20, 16 + 2 + 42 + 160), 4),
        day((2, 10), (2 + 24, 4 + 192), 0),
        day((1, 8), (24, 192), 0),
    ];
    let check = |rows: &[ReportRow]| {
        assert_eq!(rows.len(), 3, "{rows:#?}");
        for (r, want) in rows.iter().zip(&expected) {
            assert_eq!(figures(r), *want, "{r:#?}");
            assert_eq!(
                (r.environment.as_str(), r.product.as_str()),
                ("production", "vdp")
            );
            assert_eq!(r.license_id.as_deref(), Some("lic-1"));
        }
        assert_eq!(rows[0].grants_ended.released, 1);
        assert_eq!(rows[0].grants_ended.replaced, 1);
        assert_eq!(rows[1].grants_ended.revoked, 1);
        assert_eq!(rows[0].server_hours, 46.0);
    };
    // Nothing rolled up yet: every day is computed from the raw rows.
    let live = report(&m, d0, today, By::Day);
    check(&live);
    let mut rolled = 0;
    loop {
        let n = m.roll_up(ROLLUP_DAYS_PER_TX).expect("roll up");
        if n == 0 {
            break;
        }
        rolled += n;
    }
    assert!(rolled >= 2, "{rolled}");
    let mark = m.read(|tx, _| tx.rollup_watermark()).expect("mark");
    let due = day_start(now(&m).0 - 600_000) - DAY_MS;
    assert_eq!(mark, Some(UnixMillis(due)), "the last closed day");
    assert_eq!(m.roll_up(ROLLUP_DAYS_PER_TX).expect("again"), 0, "once");
    let rollups = m
        .read(|tx, _| tx.rollups_between(UnixMillis(d0), UnixMillis(today)))
        .expect("rollups");
    assert!(rollups.len() >= 2, "{rollups:?}");
    check(&report(&m, d0, today, By::Day));
    // The month (or two) holding those days, up to now, adds up its days
    // (and today's, which grow while the test runs: the property tests
    // check months against days exactly).
    let months = report(&m, d0, today, By::Month);
    let sum = |f: fn(&ReportRow) -> u64| months.iter().map(f).sum::<u64>();
    assert!(sum(|r| r.server_ms) >= ((46 + 26 + 24) * H) as u64);
    assert_eq!(sum(|r| r.grants_started), 4);
    assert_eq!(months.iter().map(|r| r.peak_servers).max(), Some(3));
    // Retention: the three rows that ended more than a day ago go, in
    // batches; the admin-released grant of today stays; reports do not move.
    let g = m
        .grant(&request("vdp", "today", 1, 1), random())
        .expect("grant");
    m.admin_release(&request("vdp", "today", 1, 1).instance)
        .expect("admin release");
    assert_eq!(
        m.renew(g.grant_id, None).expect_err("gone").code(),
        ErrorCode::UnknownGrant
    );
    let day_retention = Duration::from_secs(86_400);
    assert_eq!(m.prune_usage(day_retention, 2).expect("prune"), 2);
    assert_eq!(m.prune_usage(day_retention, 2).expect("prune"), 1);
    assert_eq!(m.prune_usage(day_retention, 2).expect("prune"), 0);
    let rows = m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 100))
        .expect("usage");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].end_reason, EndReason::AdminReleased);
    assert_eq!(rows[0].license_id.as_deref(), Some("lic-1"));
    check(&report(&m, d0, today, By::Day));
    // Today's figures come live, counted up to now.
    b.advance(Duration::from_millis(5));
    let todays = report(&m, today, today + DAY_MS, By::Day);
    let pool = todays.first().expect("today has usage");
    assert_eq!(pool.grants_ended.admin_released, 1);
    assert_eq!(pool.grants_started, 1);
    assert!(pool.peak_servers >= 1);
}

/// The port's rule that a day is rolled up once, broken by its caller, is
/// a fault of ours on every store (500 `internal`), not an outage or
/// corrupt data, and leaves the day's first figures and the watermark.
pub fn a_day_rolled_up_twice_is_our_fault<B: Backend>(b: &B) {
    use tenure_core::report::{DayFigures, Figures};
    use tenure_storage::StorageErrorKind;
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let day_ms = day_start(now(&m).0) - 2 * DAY_MS;
    let figures = |peak_servers| DayFigures {
        day_ms,
        pool: request("vdp", "a", 1, 1).instance.pool(),
        figures: Figures {
            peak_servers,
            ..Figures::default()
        },
        license_id: None,
    };
    m.store()
        .transaction(&mut |tx| tx.put_rollups(&[figures(1)], UnixMillis(day_ms)))
        .expect("the first roll-up of a day");
    let again = m
        .store()
        .transaction(&mut |tx| tx.put_rollups(&[figures(2)], UnixMillis(day_ms)))
        .expect_err("a second roll-up of the same day");
    assert_eq!(again.kind(), StorageErrorKind::Internal, "{again}");
    let kept = m
        .store()
        .transaction(&mut |tx| {
            let mark = tx.rollup_watermark()?;
            let days = tx.rollups_between(UnixMillis(day_ms), UnixMillis(day_ms + DAY_MS))?;
            Ok((mark, days))
        })
        .expect("read the roll-up back");
    assert_eq!(kept, (Some(UnixMillis(day_ms)), vec![figures(1)]));
}
