//! Usage reports (6.3) against a brute force: random histories of grants,
//! renewals, releases, revocations, admin releases, replacements and
//! expiries over months on the memory store, with days rolled up and usage
//! rows pruned as the periodic work does. The report, by day and by month,
//! must equal figures computed naively from every interval the history
//! held: the count at every instant an interval starts or ends, and the
//! time between consecutive such instants. Nothing of the code under test
//! computes the expected side.

#[allow(dead_code)]
#[path = "suite/fixtures.rs"]
mod fixtures;

use fixtures::{license, limits, request, signed, trusted};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tenure_core::manager::ManagerConfig;
use tenure_core::report::{By, ReportRow};
use tenure_core::wire::{EndReason, UsageRow};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::{InstallPolicy, Manager, MemoryStore};

const DAY: i64 = 86_400_000;
/// 2027-01-15T08:00:00Z: far from the epoch, mid-month.
const START: i64 = 1_800_000_000_000;
const HOSTS: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Advance(i64),
    Grant(usize, u32),
    Renew(usize),
    Release(usize),
    Revoke(usize),
    AdminRelease(usize),
    Sweep,
    Upkeep(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..3 * DAY).prop_map(Op::Advance),
        1 => (0i64..60_000).prop_map(Op::Advance),
        4 => (0..HOSTS, 1u32..9).prop_map(|(h, c)| Op::Grant(h, c)),
        3 => (0..HOSTS).prop_map(Op::Renew),
        1 => (0..HOSTS).prop_map(Op::Release),
        1 => (0..HOSTS).prop_map(Op::Revoke),
        1 => (0..HOSTS).prop_map(Op::AdminRelease),
        1 => Just(Op::Sweep),
        2 => (8u8..40).prop_map(Op::Upkeep),
    ]
}

/// A grant's interval: `[start, end)`, `end` `None` while held.
#[derive(Debug, Clone, Copy)]
struct Interval {
    start: i64,
    end: Option<(i64, EndReason)>,
    cores: u64,
}

/// The figures compared: peak servers, peak cores, server-ms, core-ms,
/// grants started, and grants ended per reason.
type Expected = (u64, u64, u64, u64, u64, Vec<u64>);

/// The naive computation over `[from, to)`: at each instant where an
/// interval starts or ends (and `from`), count the intervals holding it,
/// `start <= t < end`; a count holds until the next such instant.
fn brute(all: &[Interval], from: i64, to: i64) -> Expected {
    let mut instants: Vec<i64> = vec![from];
    for i in all {
        instants.push(i.start);
        if let Some((e, _)) = i.end {
            instants.push(e);
        }
    }
    instants.retain(|t| (from..to).contains(t));
    instants.sort_unstable();
    instants.dedup();
    let (mut ps, mut pc, mut sms, mut cms) = (0, 0, 0, 0);
    for (k, t) in instants.iter().enumerate() {
        let next = instants.get(k + 1).copied().unwrap_or(to);
        let holding: Vec<&Interval> = all
            .iter()
            .filter(|i| i.start <= *t && i.end.is_none_or(|(e, _)| *t < e))
            .collect();
        let n = holding.len() as u64;
        let c: u64 = holding.iter().map(|i| i.cores).sum();
        ps = ps.max(n);
        pc = pc.max(c);
        sms += n * (next - t) as u64;
        cms += c * (next - t) as u64;
    }
    let started = all.iter().filter(|i| (from..to).contains(&i.start)).count() as u64;
    let ended = EndReason::ALL
        .iter()
        .map(|r| {
            all.iter()
                .filter(|i| {
                    i.end
                        .is_some_and(|(e, why)| why == *r && (from..to).contains(&e))
                })
                .count() as u64
        })
        .collect();
    (ps, pc, sms, cms, started, ended)
}

fn of_row(r: &ReportRow) -> Expected {
    let ended = EndReason::ALL
        .iter()
        .map(|x| r.grants_ended.get(*x))
        .collect();
    (
        r.peak_servers,
        r.peak_cores,
        r.server_ms,
        r.core_ms,
        r.grants_started,
        ended,
    )
}

/// UTC month starts, by the calendar, from the test's start on.
fn month_starts() -> Vec<i64> {
    // 2027-01-01 .. 2029-01-01 (2028 is a leap year).
    let days = [
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
        31,
    ];
    let mut t = START - (START.rem_euclid(DAY)) - 14 * DAY;
    let mut out = vec![t];
    for d in days {
        t += d * DAY;
        out.push(t);
    }
    out
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = Arc::new(AtomicI64::new(START));
    let c = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
    let m = Manager::new(store, ManagerConfig::default(), trusted());
    let t = UnixMillis(START);
    // A one-day grace: silent grants expire within the history.
    let lic = license(
        "lic-p",
        t,
        t,
        UnixMillis(START + 400 * DAY),
        86_400,
        1,
        &[("production", "vdp", limits(Some(4), None, None))],
    );
    m.install_license(&signed(&lic), InstallPolicy::Replace)
        .expect("install");
    let mut grants: [Option<GrantId>; HOSTS] = [None; HOSTS];
    // Every usage row ever written, kept here before retention prunes it.
    let mut seen: BTreeMap<GrantId, UsageRow> = BTreeMap::new();
    let keep = |m: &Manager<MemoryStore>, seen: &mut BTreeMap<GrantId, UsageRow>| {
        for u in m
            .read(|tx, _| tx.usage_since(UnixMillis(0), usize::MAX))
            .expect("usage")
        {
            seen.insert(u.grant_id, u);
        }
    };
    let mut n = 0u8;
    for op in ops {
        n = n.wrapping_add(1);
        let random = [n; 16];
        let host = |h: usize| request("vdp", &format!("h{h}"), 1, 1).instance;
        match *op {
            Op::Advance(ms) => {
                clock.fetch_add(ms, Ordering::SeqCst);
            }
            Op::Grant(h, cores) => {
                if let Ok(g) = m.grant(&request("vdp", &format!("h{h}"), 1, cores), random) {
                    grants[h] = Some(g.grant_id);
                }
            }
            Op::Renew(h) => {
                if let Some(id) = grants[h] {
                    let _ = m.renew(id, None);
                }
            }
            Op::Release(h) => {
                if let Some(id) = grants[h] {
                    let _ = m.release(id);
                }
            }
            Op::Revoke(h) => {
                if let Some(id) = grants[h] {
                    let _ = m.revoke(id);
                }
            }
            Op::AdminRelease(h) => {
                let _ = m.admin_release(&host(h));
            }
            Op::Sweep => {
                m.sweep(1000).expect("sweep");
            }
            Op::Upkeep(days) => {
                while m.roll_up(7).expect("roll up") > 0 {}
                keep(&m, &mut seen);
                let retention = Duration::from_secs(u64::from(days) * 86_400 / 8);
                while m.prune_usage(retention, 3).expect("prune") > 0 {}
            }
        }
    }
    keep(&m, &mut seen);
    let now = clock.load(Ordering::SeqCst);
    let held = m.read(|tx, _| tx.held_grants()).expect("held");
    let all: Vec<Interval> = seen
        .values()
        .map(|u| Interval {
            start: u.first_request_ms,
            end: Some((u.ended_ms, u.end_reason)),
            cores: u64::from(u.facts.cores),
        })
        .chain(held.iter().map(|g| Interval {
            start: g.granted_at.0,
            end: None,
            cores: u64::from(g.facts.cores),
        }))
        .collect();
    let first_day = START - START.rem_euclid(DAY);
    let report = |by| {
        m.usage_report(UnixMillis(first_day), None, by)
            .expect("report")
            .rows
    };
    // By day: every day from the first to today (cut at now).
    let days = report(By::Day);
    let mut expected = Vec::new();
    let mut d = first_day;
    while d <= now {
        let e = brute(&all, d, (d + DAY).min(now));
        if e != (0, 0, 0, 0, 0, vec![0; 6]) {
            expected.push((d, e));
        }
        d += DAY;
    }
    let got: Vec<Expected> = days.iter().map(of_row).collect();
    let want: Vec<Expected> = expected.iter().map(|(_, e)| e.clone()).collect();
    prop_assert_eq!(
        got,
        want,
        "days {:?}",
        expected.iter().map(|(d, _)| d).collect::<Vec<_>>()
    );
    // By month, the same history with month windows.
    let months = report(By::Month);
    let mut want = Vec::new();
    for w in month_starts().windows(2) {
        let (from, to) = (w[0].max(first_day), w[1].min(now));
        if from < to {
            let e = brute(&all, from, to);
            if e != (0, 0, 0, 0, 0, vec![0; 6]) {
                want.push(e);
            }
        }
    }
    let got: Vec<Expected> = months.iter().map(of_row).collect();
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn reports_from_rollups_equal_a_brute_force(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}
