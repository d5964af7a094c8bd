//! Usage reports (6.3) on PostgreSQL: 1,000,000 usage rows over 400 days
//! and 100 pools, rolled up, then the report of those 400 days by day and
//! by month. PostgreSQL must be running on 127.0.0.1 (as for the
//! `transactions` bench); without it the bench is skipped with a message.

use criterion::{Criterion, criterion_group, criterion_main};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use std::time::{Duration, Instant};
use tenure_core::UnixMillis;
use tenure_core::manager::ManagerConfig;
use tenure_core::report::{By, DAY_MS, day_start};
use tenure_storage::{DieselStore, Manager, ROLLUP_DAYS_PER_TX, StoreOptions};

const ROWS: i64 = 1_000_000;
const POOLS: i64 = 100;
const DAYS: i64 = 400;

fn wall() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn db_name() -> String {
    format!("tenure_bench_reports_{}", std::process::id())
}

/// A fresh database holding the history, or why there is none.
fn database() -> Result<String, String> {
    let db = db_name();
    let mut c = PgConnection::establish("postgres://postgres@127.0.0.1:5432/postgres")
        .map_err(|e| e.to_string())?;
    // One statement each: DROP/CREATE DATABASE refuse a transaction.
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .and_then(|()| c.batch_execute(&format!("CREATE DATABASE {db}")))
        .map_err(|e| e.to_string())?;
    Ok(format!("postgres://postgres@127.0.0.1:5432/{db}"))
}

/// `ROWS` usage rows, spread evenly over the `DAYS` days that ended before
/// yesterday, each held 0 to 48 hours, in `POOLS` pools.
fn history(url: &str, first: i64) {
    let step = DAYS * DAY_MS / ROWS;
    let mut c = PgConnection::establish(url).expect("connect");
    c.batch_execute(&format!(
        "INSERT INTO usage_history (grant_id, environment, product, hostname, port, cores, \
         first_request_ms, last_request_ms, ended_ms, end_reason, license_id) \
         SELECT lpad(to_hex(i), 32, '0'), 'production', 'p' || (i % {POOLS}), 'h' || i, 1, \
         1 + (i % 16), {first} + i * {step}, {first} + i * {step}, \
         {first} + i * {step} + (i * 7919) % 172800000, 'released', 'bench' \
         FROM generate_series(0::bigint, {}) AS i; ANALYZE usage_history",
        ROWS - 1
    ))
    .expect("insert history");
}

fn reports(c: &mut Criterion) {
    let url = match database() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("SKIPPED postgres: {e}");
            return;
        }
    };
    let store = DieselStore::connect(&url, StoreOptions::default()).expect("connect");
    store.migrate().expect("migrate");
    let today = day_start(wall());
    let first = today - (DAYS + 2) * DAY_MS;
    let started = Instant::now();
    history(&url, first);
    eprintln!("{ROWS} usage rows written in {:?}", started.elapsed());
    let m = Manager::new(store, ManagerConfig::default(), Vec::new());
    let started = Instant::now();
    let mut days = 0;
    loop {
        match m.roll_up(ROLLUP_DAYS_PER_TX).expect("roll up") {
            0 => break,
            n => days += n,
        }
    }
    eprintln!("{days} days rolled up in {:?}", started.elapsed());
    let from = UnixMillis(today - DAYS * DAY_MS);
    let rows = m.usage_report(from, None, By::Day).expect("report").rows;
    eprintln!("report by day: {} rows", rows.len());
    let mut group = c.benchmark_group("postgres");
    group.bench_function("report, 400 days by day, 100 pools", |b| {
        b.iter(|| m.usage_report(from, None, By::Day).expect("report"))
    });
    group.bench_function("report, 400 days by month, 100 pools", |b| {
        b.iter(|| m.usage_report(from, None, By::Month).expect("report"))
    });
    group.finish();
    drop(m);
    // A million rows are not worth keeping between runs.
    if let Ok(mut c) = PgConnection::establish("postgres://postgres@127.0.0.1:5432/postgres") {
        let _ = c.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            db_name()
        ));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(10));
    targets = reports
}
criterion_main!(benches);
