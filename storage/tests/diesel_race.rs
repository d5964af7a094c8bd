//! M5 on each backend: two stores (two managers' pools) on one database, 32
//! threads granting distinct instances of one pool with max_servers = 5 at
//! the same instant. Exactly 5 are granted, every round.

mod support;

use std::sync::Barrier;
use std::time::Instant;
use support::{Kind, TestDb, grant_once, id, license, limits, pool, request};
use tenure_core::UnixMillis;
use tenure_core::manager::{Denial, PoolTotals};
use tenure_storage::{DieselStore, Store, StoreOptions};
use tenure_testkit::trial;

const THREADS: u64 = 32;
const ROUNDS: u64 = 20;
const MAX_SERVERS: u64 = 5;

fn race(kind: Kind) {
    let db = TestDb::of(kind);
    let opts = StoreOptions {
        pool_size: 8,
        ..StoreOptions::default()
    };
    let stores = [
        DieselStore::connect(&db.url, opts).expect("connect manager 1"),
        DieselStore::connect(&db.url, opts).expect("connect manager 2"),
    ];
    stores[0].migrate().expect("migrate");
    let products: Vec<String> = (0..ROUNDS).map(|r| format!("p{r}")).collect();
    let pools: Vec<_> = products
        .iter()
        .map(|p| ("prod", p.as_str(), limits(Some(MAX_SERVERS), None, None)))
        .collect();
    let lic = license(&pools, 3_600);
    let started = Instant::now();
    for (round, product) in products.iter().enumerate() {
        let round = round as u64;
        let barrier = Barrier::new(THREADS as usize);
        let outcomes: Vec<Result<(), Denial>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let store = &stores[(i % 2) as usize];
                    let (lic, barrier) = (&lic, &barrier);
                    s.spawn(move || {
                        let req = request("prod", product, &format!("host{i}"), 7000, 4);
                        barrier.wait();
                        grant_once(store, lic, &req, id(round * 1000 + i))
                            .expect("no storage error in the race")
                            .map(|_| ())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("racer thread"))
                .collect()
        });
        let granted = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
        for denied in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert!(
                matches!(
                    denied,
                    Denial::ServersExceeded {
                        limit: MAX_SERVERS,
                        held: MAX_SERVERS,
                        ..
                    }
                ),
                "round {round}: unexpected denial {denied:?}"
            );
        }
        assert_eq!(
            granted, MAX_SERVERS,
            "{kind:?} round {round}: granted {granted}"
        );
        // What storage holds agrees, seen from the other manager too.
        for store in &stores {
            let totals = store
                .transaction(&mut |tx| {
                    let now = tx.now()?;
                    Ok(tx
                        .pool_totals(now)?
                        .into_iter()
                        .find(|r| r.pool == pool("prod", product))
                        .map(|r| r.totals))
                })
                .expect("totals");
            assert_eq!(
                totals,
                Some(PoolTotals {
                    servers: MAX_SERVERS,
                    total_cores: 4 * MAX_SERVERS
                }),
                "{kind:?} round {round}"
            );
        }
    }
    let held = stores[1]
        .transaction(&mut |tx| tx.held_grants())
        .expect("held");
    assert_eq!(held.len() as u64, ROUNDS * MAX_SERVERS);
    assert!(held.iter().all(|g| g.held_until > UnixMillis(0)));
    println!(
        "{kind:?}: {ROUNDS} rounds x {THREADS} threads over 2 stores, {MAX_SERVERS} granted each round, in {:?}",
        started.elapsed()
    );
}

fn race_sqlite() {
    race(Kind::Sqlite);
}

fn race_postgres() {
    race(Kind::Postgres);
}

fn race_mysql() {
    race(Kind::Mysql);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial("race_sqlite", &[], race_sqlite),
        trial(
            "race_postgres",
            support::needs(Kind::Postgres),
            race_postgres,
        ),
        trial("race_mysql", support::needs(Kind::Mysql), race_mysql),
    ])
}
