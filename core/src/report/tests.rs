use super::*;
use crate::names::{Hostname, Name};
use crate::wire::{HostFacts, Instance};
use crate::{GrantId, UnixMillis};
use proptest::prelude::*;

fn ended(start: i64, end: i64, cores: u32, reason: EndReason) -> Span {
    Span {
        start,
        end: Some((end, reason)),
        cores,
    }
}

fn held(start: i64, cores: u32) -> Span {
    Span {
        start,
        end: None,
        cores,
    }
}

#[test]
fn a_replaced_grant_and_its_successor_in_one_millisecond_count_once() {
    let spans = [
        ended(10, 50, 4, EndReason::Replaced),
        held(50, 4),
        ended(20, 30, 2, EndReason::Released),
    ];
    let f = figures(&spans, 0, 100);
    assert_eq!((f.peak_servers, f.peak_cores), (2, 6));
    assert_eq!(f.server_ms, 40 + 50 + 10);
    assert_eq!(f.core_ms, 160 + 200 + 20);
    assert_eq!(f.grants_started, 3);
    assert_eq!(f.grants_ended.replaced, 1);
    assert_eq!(f.grants_ended.released, 1);
}

#[test]
fn windows_count_only_their_overlap_and_their_own_starts_and_ends() {
    let spans = [ended(-10, 10, 3, EndReason::GraceExceeded), held(5, 1)];
    let f = figures(&spans, 0, 20);
    assert_eq!(f.server_ms, 10 + 15);
    assert_eq!(f.core_ms, 30 + 15);
    assert_eq!(f.grants_started, 1);
    assert_eq!(f.grants_ended.grace_exceeded, 1);
    assert_eq!((f.peak_servers, f.peak_cores), (2, 4));
    // A grant that ends exactly at the window's start is only an end there.
    let f = figures(&[ended(-10, 0, 3, EndReason::Revoked)], 0, 20);
    assert_eq!(
        (f.peak_servers, f.server_ms, f.grants_ended.revoked),
        (0, 0, 1)
    );
    // One that starts and ends in the same millisecond holds nothing.
    let f = figures(&[ended(7, 7, 3, EndReason::Released)], 0, 20);
    assert_eq!(
        (f.peak_servers, f.grants_started, f.grants_ended.released),
        (0, 1, 1)
    );
}

#[test]
fn hours_are_exact_to_the_microhour() {
    assert_eq!(hours_text(0), "0.000000");
    assert_eq!(hours_text(3_600_000), "1.000000");
    assert_eq!(hours_text(5_400_000), "1.500000");
    assert_eq!(hours_text(1), "0.000000");
    assert_eq!(hours_text(2), "0.000001");
}

fn pool() -> PoolKey {
    PoolKey::new(
        Name::parse("environment", "production").expect("name"),
        Name::parse("product", "vdp").expect("name"),
    )
}

fn usage(start: i64, end: i64, reason: EndReason, license: &str) -> UsageRow {
    UsageRow {
        grant_id: GrantId::from_random([7; 16]),
        instance: Instance {
            environment: pool().environment,
            product: pool().product,
            hostname: Hostname::parse("h1").expect("host"),
            port: 1,
        },
        facts: HostFacts {
            cores: 2,
            ip: None,
            version: None,
        },
        first_request_ms: start,
        last_request_ms: start,
        ended_ms: end,
        end_reason: reason,
        license_id: Some(license.into()),
    }
}

#[test]
fn a_month_is_its_days_together() {
    let rows = [usage(DAY_MS / 2, DAY_MS * 3 / 2, EndReason::Released, "L1")];
    let days = live_days(&rows, &[], 0, 3 * DAY_MS, Some("L2"));
    assert_eq!(days.len(), 2);
    let by_day = report_rows(&days, By::Day);
    assert_eq!(by_day[0].period_start, "1970-01-01");
    assert_eq!(by_day[0].server_hours, 12.0);
    assert_eq!(by_day[1].grants_ended.released, 1);
    let by_month = report_rows(&days, By::Month);
    assert_eq!(by_month.len(), 1);
    assert_eq!(by_month[0].server_ms, DAY_MS as u64);
    assert_eq!(by_month[0].grants_started, 1);
    assert_eq!(by_month[0].license_id.as_deref(), Some("L2"));
    let csv = to_csv(&by_month);
    let mut lines = csv.split("\r\n");
    assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
    assert_eq!(
        lines.next(),
        Some(
            "1970-01-01,production,vdp,1,2,24.000000,48.000000,86400000,172800000,1,1,0,0,0,0,0,L2"
        )
    );
}

#[test]
fn csv_quotes_what_needs_quoting() {
    let mut out = String::new();
    csv::line(&mut out, ["a,b", "say \"hi\"", "plain"]);
    assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",plain\r\n");
}

/// The naive count: how many spans hold the instant `t`.
fn held_at(spans: &[Span], t: i64) -> (u64, u64) {
    spans
        .iter()
        .filter(|s| s.start <= t && s.end.is_none_or(|(e, _)| t < e))
        .fold((0, 0), |(n, c), s| (n + 1, c + u64::from(s.cores)))
}

fn span() -> impl Strategy<Value = Span> {
    (0i64..200, prop::option::of((0i64..100, 0usize..6)), 1u32..9).prop_map(|(s, e, c)| Span {
        start: s,
        end: e.map(|(d, r)| (s + d, EndReason::ALL[r])),
        cores: c,
    })
}

proptest! {
    /// The sweep's peaks equal the largest count at any instant of the
    /// window, every instant tried; and windows add up to their union.
    #[test]
    fn peaks_are_the_true_maximum(spans in prop::collection::vec(span(), 0..12), cut in 1i64..300) {
        let (from, to) = (0, 300);
        let f = figures(&spans, from, to);
        let (mut ps, mut pc) = (0, 0);
        for t in from..to {
            let (n, c) = held_at(&spans, t);
            ps = ps.max(n);
            pc = pc.max(c);
        }
        prop_assert_eq!((f.peak_servers, f.peak_cores), (ps, pc));
        let mut joined = figures(&spans, from, cut);
        joined.merge(&figures(&spans, cut, to));
        prop_assert_eq!(joined, f);
    }
}

#[test]
fn live_days_cut_the_last_day_at_the_end() {
    let g = HeldGrant {
        grant_id: GrantId::from_random([9; 16]),
        instance: usage(0, 0, EndReason::Released, "L").instance,
        facts: HostFacts {
            cores: 4,
            ip: None,
            version: None,
        },
        granted_at: UnixMillis(DAY_MS - 10),
        last_renewed: UnixMillis(DAY_MS - 10),
        held_until: UnixMillis(i64::MAX),
        client_skew_ms: None,
    };
    let days = live_days(&[], &[g], 0, DAY_MS + 100, None);
    assert_eq!(days.len(), 2);
    assert_eq!(days[0].figures.server_ms, 10);
    assert_eq!(days[1].figures.server_ms, 100);
    assert_eq!(days[1].figures.core_ms, 400);
}
