//! What the storm came to, and whether it passes.

use crate::probe::Sample;
use crate::storm::{Second, Storm};
use std::collections::BTreeMap;
use std::time::Duration;

#[allow(clippy::too_many_arguments)]
pub fn report(
    storm: &Storm,
    samples: &[Sample],
    took: Duration,
    gave_up: bool,
    srv_cpu: f64,
    own_cpu: f64,
    pid: Option<u32>,
    rss: &dyn Fn(&str),
) -> anyhow::Result<bool> {
    let n = storm.agents.len();
    println!();
    println!(
        "storm over in {:.1} s{}",
        took.as_secs_f64(),
        if gave_up {
            " (GAVE UP: --max-storm-s)"
        } else {
            ""
        }
    );
    rss("after the storm");
    if pid.is_some() {
        println!(
            "CPU time during the storm: manager {srv_cpu:.1} s, this program {own_cpu:.1} s (wall {:.1} s, 2 cores)",
            took.as_secs_f64()
        );
    }
    let total: u64 = storm.outcomes.values().sum();
    println!(
        "answers: {total} (most requests in flight or queued at once: {}; agent timer wake-ups: {})",
        storm.max_in_flight, storm.wakeups
    );
    for (o, c) in &storm.outcomes {
        let mark = if o.accepted() { "" } else { "   <- failure" };
        println!("  {:<44} {c:>9}{mark}", o.label());
    }
    if !storm.retry_after.is_empty() {
        let ra: Vec<String> = storm
            .retry_after
            .iter()
            .map(|(k, v)| format!("{k} s: {v}"))
            .collect();
        println!("  Retry-After on the 503s: {}", ra.join(", "));
    }
    let ev: Vec<String> = storm
        .events
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("agent events: {}", ev.join(", "));

    let renewed = storm.renewed_at.iter().filter(|r| r.is_some()).count();
    let mut times: Vec<f64> = storm
        .renewed_at
        .iter()
        .flatten()
        .map(Duration::as_secs_f64)
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "renewed: {renewed} of {n}; time from t = 0 to an agent's successful renewal p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, last {:.2} s",
        pct(&times, 0.5),
        pct(&times, 0.9),
        pct(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN)
    );
    let mut by_attempts: BTreeMap<u32, u64> = BTreeMap::new();
    for a in &storm.attempts {
        *by_attempts.entry(*a).or_default() += 1;
    }
    let total_retries: u64 = storm
        .attempts
        .iter()
        .map(|a| u64::from(a.saturating_sub(1)))
        .sum();
    let max_retries = storm
        .attempts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_sub(1);
    println!(
        "retries: {total_retries} in all, at most {max_retries} by one agent; agents by renewal attempts: {}",
        by_attempts
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut wire = storm.wire_ms.clone();
    let mut wire503 = storm.wire_ms_503.clone();
    let mut queue = storm.queue_s.clone();
    wire.sort_by(f64::total_cmp);
    wire503.sort_by(f64::total_cmp);
    queue.sort_by(f64::total_cmp);
    println!(
        "time on the wire: 503 p50 {:.1} ms, p99 {:.1} ms; others p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&wire503, 0.5),
        pct(&wire503, 0.99),
        pct(&wire, 0.5),
        pct(&wire, 0.99),
        wire.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "wait for a free client connection: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        pct(&queue, 0.5),
        pct(&queue, 0.99),
        queue.last().copied().unwrap_or(f64::NAN)
    );

    let width = storm.seconds.len().div_ceil(60).max(1);
    println!();
    println!(
        "Per {width} s from t = 0: renewals queued by the agents (first attempt, retry), requests put on the wire, answers."
    );
    println!();
    println!(
        "| t (s) | first attempts | retries | on the wire | 200 | 503 overloaded | other | manager CPU | tool CPU | ping ms (max) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (k, chunk) in storm.seconds.chunks(width).enumerate() {
        let s = chunk.iter().fold(Second::default(), Second::add);
        let from = (k * width).min(samples.len());
        let to = ((k + 1) * width).min(samples.len());
        let probe = &samples[from..to];
        let cpu = |f: fn(&Sample) -> f64| {
            if probe.is_empty() {
                "-".to_owned()
            } else {
                let used: f64 = probe.iter().map(f).sum();
                format!("{:.0} %", 100.0 * used / probe.len() as f64)
            }
        };
        let ping = probe
            .iter()
            .map(|p| p.ping_ms)
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| {
                    if v.is_nan() || a.is_nan() {
                        f64::NAN
                    } else {
                        a.max(v)
                    }
                }))
            })
            .map_or("-".to_owned(), |v| format!("{v:.0}"));
        println!(
            "| {}-{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            k * width,
            (k + 1) * width,
            s.first_queued,
            s.retries_queued,
            s.on_wire,
            s.ok,
            s.overloaded,
            s.other,
            cpu(|p| p.manager_cpu),
            cpu(|p| p.own_cpu),
            ping
        );
    }
    println!();
    println!("When the agents queued retry number k (seconds from t = 0):");
    println!();
    println!("| retry | agents | first | p10 | p50 | p90 | last |");
    println!("|---|---|---|---|---|---|---|");
    for (k, times) in storm.retry_times.iter().enumerate() {
        let mut t = times.clone();
        t.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            k + 1,
            t.len(),
            t.first().copied().unwrap_or(f64::NAN),
            pct(&t, 0.1),
            pct(&t, 0.5),
            pct(&t, 0.9),
            t.last().copied().unwrap_or(f64::NAN)
        );
    }
    // A synchronised herd puts a whole wave of retries in one instant, as the
    // first attempts are (100 % at t = 0).
    let busiest = storm.retry_deciseconds.iter().copied().max().unwrap_or(0);
    let active = storm.retry_deciseconds.iter().filter(|r| **r > 0).count();
    let share = if total_retries == 0 {
        0.0
    } else {
        100.0 * f64::from(busiest) / total_retries as f64
    };
    println!();
    println!(
        "retries fall in {active} distinct 100 ms windows; the busiest holds {busiest} of {total_retries} ({share:.1} %)"
    );

    let failures: u64 = storm
        .outcomes
        .iter()
        .filter(|(o, _)| !o.accepted())
        .map(|(_, c)| *c)
        .sum();
    // Spread: no 100 ms window holds more than a tenth of all retries.
    let spread = total_retries == 0 || share <= 10.0;
    let ok = failures == 0 && renewed == n && !gave_up && spread;
    println!(
        "acceptance: {failures} answers other than 200 / 503 overloaded (transport errors and timeouts included); every agent renewed: {}; retries spread in time: {spread} => {}",
        renewed == n,
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(ok)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
