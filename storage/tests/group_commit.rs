//! Group commit: requests decided together in one transaction answer exactly
//! as if each had its own (a property on the memory store), and on every real
//! backend two group-committing managers under 64 threads keep M5 and lose
//! nothing.

#[path = "suite/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
mod support;

use proptest::prelude::*;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use support::{Kind, TestDb, id, instance, limits, pool, request};
use tenure_core::manager::{Denial, ManagerConfig, PoolTotals};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::{
    Answer, BatchTx, DieselStore, InstallPolicy, Manager, ManagerError, MemoryStore, Op, OpResult,
    PoolTotalsRow, StorageError, Store, StoreOptions,
};
use tenure_testkit::trial;

const MAX_SERVERS: u64 = 5;

fn install<S: tenure_storage::Store>(m: &Manager<S>, pools: &[(&str, &str, u64)], grace_s: u64) {
    let pools: Vec<_> = pools
        .iter()
        .map(|(e, p, n)| (*e, *p, limits(Some(*n), None, None)))
        .collect();
    let text = fixtures::signed(&support::license(&pools, grace_s));
    m.install_license(&text, InstallPolicy::Replace)
        .expect("install license");
}

/// A real store that counts its transactions. A batch that fails falls back
/// to one transaction per op and answers the same, so only the count shows
/// that the batch path broke.
struct Counted {
    inner: DieselStore,
    transactions: AtomicUsize,
}

impl Counted {
    fn transactions(&self) -> usize {
        self.transactions.load(Ordering::SeqCst)
    }
}

impl Store for Counted {
    fn transaction<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn BatchTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.transaction(f)
    }
}

fn group_manager(url: &str) -> Manager<Counted> {
    let store = DieselStore::connect(
        url,
        StoreOptions {
            pool_size: 2,
            ..StoreOptions::default()
        },
    )
    .expect("connect");
    store.migrate().expect("migrate");
    let store = Counted {
        inner: store,
        transactions: AtomicUsize::new(0),
    };
    Manager::new(store, ManagerConfig::default(), fixtures::trusted()).with_group_commit(64)
}

fn under_load(kind: Kind) {
    let db = TestDb::of(kind);
    let managers = [group_manager(&db.url), group_manager(&db.url)];
    install(
        &managers[0],
        &[("prod", "tight", MAX_SERVERS), ("prod", "wide", 1_000)],
        3_600,
    );
    let threads = 64u64;
    let rounds = 3u64;
    let barrier = Barrier::new(threads as usize);
    let mut granted_tight = 0;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (m, barrier) = (&managers[(i % 2) as usize], &barrier);
                s.spawn(move || {
                    let mut tight = 0u64;
                    // Every thread at once: grants of one tight pool race
                    // each other while other threads renew and release.
                    for round in 0..rounds {
                        barrier.wait();
                        let host = format!("h{i}-r{round}");
                        match m.grant(&request("prod", "tight", &host, 1, 2), rand(i, round, 0)) {
                            Ok(_) => tight += 1,
                            Err(ManagerError::Denied(Denial::ServersExceeded { .. })) => {}
                            Err(e) => panic!("{kind:?}: tight grant failed: {e}"),
                        }
                        let g = m
                            .grant(&request("prod", "wide", &host, 2, 1), rand(i, round, 1))
                            .unwrap_or_else(|e| panic!("{kind:?}: wide grant: {e}"));
                        let mut until = g.server_time_ms;
                        for _ in 0..5 {
                            let r = m
                                .renew(g.grant_id, None)
                                .unwrap_or_else(|e| panic!("{kind:?}: renew: {e}"));
                            assert_eq!(r.grant_id, g.grant_id);
                            assert!(r.server_time_ms >= until);
                            until = r.server_time_ms;
                        }
                        m.release(g.grant_id)
                            .unwrap_or_else(|e| panic!("{kind:?}: release: {e}"));
                        assert_eq!(
                            m.renew(g.grant_id, None),
                            Err(ManagerError::Denied(Denial::UnknownGrant))
                        );
                    }
                    tight
                })
            })
            .collect();
        granted_tight = handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .sum::<u64>();
    });
    // Each round's hosts are new instances, so each round fills the pool
    // only if the earlier rounds' grants were gone: they are not, so the
    // tight pool holds exactly its limit, never more.
    assert_eq!(granted_tight, MAX_SERVERS, "{kind:?}");
    for m in &managers {
        let (totals, usage, counted) = m
            .read(|tx, now| {
                Ok((
                    tx.pool_totals(now)?,
                    tx.usage_since(UnixMillis(0), 10_000)?,
                    // From the pool rows' running counts, not a count of grants.
                    [
                        tx.pool_view(&instance("prod", "tight", "x", 9), now, 0)?
                            .held,
                        tx.pool_view(&instance("prod", "wide", "x", 9), now, 0)?
                            .held,
                    ],
                ))
            })
            .expect("read");
        assert_eq!(
            counted[0], totals[0].totals,
            "{kind:?}: running count of tight"
        );
        assert_eq!(counted[1], PoolTotals::default(), "{kind:?}: wide emptied");
        assert_eq!(
            totals,
            vec![PoolTotalsRow {
                pool: pool("prod", "tight"),
                totals: PoolTotals {
                    servers: MAX_SERVERS,
                    total_cores: 2 * MAX_SERVERS
                }
            }],
            "{kind:?}"
        );
        assert_eq!(
            usage.len() as u64,
            threads * rounds,
            "{kind:?}: one usage row per release"
        );
    }
}

fn rand(thread: u64, round: u64, k: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(thread * 1_000 + round * 10 + k).to_be_bytes());
    b[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    b
}

fn group_commit_under_load_sqlite() {
    under_load(Kind::Sqlite);
}

fn group_commit_under_load_postgres() {
    under_load(Kind::Postgres);
}

fn group_commit_under_load_mysql() {
    under_load(Kind::Mysql);
}

/// One op as the property draws it; ids refer to earlier grants by index.
#[derive(Debug, Clone)]
enum Spec {
    Grant { host: u8, tight: bool, cores: u32 },
    Renew(usize),
    Release(usize),
    RenewUnknown,
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (0u8..6, any::<bool>(), 1u32..4).prop_map(|(host, tight, cores)| Spec::Grant {
            host,
            tight,
            cores
        }),
        any::<usize>().prop_map(Spec::Renew),
        any::<usize>().prop_map(Spec::Release),
        Just(Spec::RenewUnknown),
    ]
}

/// Turns specs into ops; a renewal or release names the id of an earlier
/// grant op (granted or not), so both runs see the same ops.
fn ops(batches: &[(u32, Vec<Spec>)]) -> Vec<(i64, Vec<Op>)> {
    let mut grant_ids = Vec::new();
    let mut n = 0u64;
    batches
        .iter()
        .map(|(advance_min, specs)| {
            let ops = specs
                .iter()
                .map(|s| {
                    n += 1;
                    let named = |k: usize| {
                        if grant_ids.is_empty() {
                            id(1_000_000 + n)
                        } else {
                            grant_ids[k % grant_ids.len()]
                        }
                    };
                    match s {
                        Spec::Grant { host, tight, cores } => {
                            let product = if *tight { "tight" } else { "wide" };
                            let new = id(n);
                            grant_ids.push(new);
                            Op::Grant {
                                req: request("prod", product, &format!("h{host}"), 1, *cores),
                                id: new,
                            }
                        }
                        Spec::Renew(k) => Op::Renew {
                            id: named(*k),
                            client_time: None,
                        },
                        Spec::Release(k) => Op::Release(named(*k)),
                        Spec::RenewUnknown => Op::Renew {
                            id: id(2_000_000 + n),
                            client_time: None,
                        },
                    }
                })
                .collect();
            (i64::from(*advance_min) * 60_000, ops)
        })
        .collect()
}

fn memory_manager(clock: &Arc<AtomicI64>) -> Manager<MemoryStore> {
    let c = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
    let m = Manager::new(store, ManagerConfig::default(), fixtures::trusted());
    install(&m, &[("prod", "tight", 2), ("prod", "wide", 4)], 600);
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    fn a_batch_answers_as_one_transaction_per_op(
        batches in prop::collection::vec((0u32..40, prop::collection::vec(spec(), 1..12)), 1..10)
    ) {
        let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
        let batched = memory_manager(&clock);
        let alone = memory_manager(&clock);
        for (advance, ops) in ops(&batches) {
            clock.fetch_add(advance, Ordering::SeqCst);
            let together: Vec<OpResult> = batched.run_batch(&ops);
            let apart: Vec<OpResult> = ops
                .iter()
                .flat_map(|op| alone.run_batch(std::slice::from_ref(op)))
                .collect();
            prop_assert_eq!(&together, &apart);
            prop_assert!(together.iter().all(|r| !matches!(r, Err(ManagerError::Storage(_)))));
            let kinds_match = together.iter().zip(&ops).all(|(r, op)| {
                matches!(
                    (r, op),
                    (Ok(Answer::Granted(_)), Op::Grant { .. })
                        | (Ok(Answer::Renewed(_)), Op::Renew { .. })
                        | (Ok(Answer::Released), Op::Release(_))
                        | (Err(_), _)
                )
            });
            prop_assert!(kinds_match, "an answer of the wrong kind");
        }
        let state = |m: &Manager<MemoryStore>| {
            m.read(|tx, _| Ok((tx.held_grants()?, tx.usage_since(UnixMillis(0), 100_000)?)))
                .expect("read")
        };
        prop_assert_eq!(state(&batched), state(&alone));
    }
}

/// `n` one-core grants in pool prod/wide, to hosts `{prefix}0`, `{prefix}1`...
fn grant_wide<S: Store>(m: &Manager<S>, prefix: &str, seed: u64, n: u64) -> Vec<GrantId> {
    (0..n)
        .map(|i| {
            m.grant(
                &request("prod", "wide", &format!("{prefix}{i}"), 1, 1),
                rand(seed, 0, i),
            )
            .expect("grant")
            .grant_id
        })
        .collect()
}

/// Renewals of one batch go to storage in one statement: each row gets its
/// own values, and a grant renewed twice keeps the later renewal.
fn batched_renewals_are_written(kind: Kind) {
    let db = TestDb::of(kind);
    let m = group_manager(&db.url);
    install(&m, &[("prod", "wide", 100)], 3_600);
    let granted = grant_wide(&m, "w", 90, 3);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let client = UnixMillis(1_000);
    let ops = vec![
        Op::Renew {
            id: granted[0],
            client_time: None,
        },
        Op::Renew {
            id: granted[1],
            client_time: None,
        },
        Op::Renew {
            id: granted[0],
            client_time: Some(client),
        },
    ];
    let answers = m.run_batch(&ops);
    assert!(answers.iter().all(Result::is_ok), "{kind:?}: {answers:?}");
    let held = m.read(|tx, _| tx.held_grants()).expect("read");
    let find = |id| held.iter().find(|g| g.grant_id == id).expect("held");
    let (a, b, c) = (find(granted[0]), find(granted[1]), find(granted[2]));
    assert!(a.last_renewed > a.granted_at, "{kind:?}: {a:?}");
    assert_eq!(
        a.last_renewed, b.last_renewed,
        "{kind:?}: one instant per batch"
    );
    assert_eq!(a.held_until, b.held_until, "{kind:?}");
    assert!(a.held_until > c.held_until, "{kind:?}: c was not renewed");
    assert_eq!(c.last_renewed, c.granted_at, "{kind:?}");
    assert_eq!(
        a.client_skew_ms,
        Some(client.0 - a.last_renewed.0),
        "{kind:?}"
    );
    assert_eq!(b.client_skew_ms, None, "{kind:?}");
}

fn batched_renewals_are_written_sqlite() {
    batched_renewals_are_written(Kind::Sqlite);
}

fn batched_renewals_are_written_postgres() {
    batched_renewals_are_written(Kind::Postgres);
}

fn batched_renewals_are_written_mysql() {
    batched_renewals_are_written(Kind::Mysql);
}

/// Grants of one batch go to storage together (one INSERT, one count per
/// pool): every row is written with its own facts, a pool's running count
/// matches its rows, and an instance granted twice in the batch keeps only
/// its second grant, as two transactions would leave it.
fn batched_grants_are_written(kind: Kind) {
    let db = TestDb::of(kind);
    let m = group_manager(&db.url);
    install(&m, &[("prod", "wide", 100), ("prod", "tight", 2)], 3_600);
    let mut with_facts = request("prod", "wide", "g0", 1, 3);
    with_facts.facts.ip = Some("10.0.0.7".parse().expect("ip"));
    with_facts.facts.version = Some("1.2.3".into());
    with_facts.client_time = Some(UnixMillis(1_000));
    let reqs = [
        with_facts,
        request("prod", "wide", "g1", 1, 1),
        // The same host twice, on two ports: two instances.
        request("prod", "wide", "g1", 2, 2),
        request("prod", "tight", "t0", 1, 1),
        // g0:1 again: replaces the batch's own first grant.
        request("prod", "wide", "g0", 1, 4),
        request("prod", "tight", "t1", 1, 1),
        // The tight pool is full by now.
        request("prod", "tight", "t2", 1, 1),
    ];
    let ops: Vec<Op> = reqs
        .iter()
        .enumerate()
        .map(|(k, req)| Op::Grant {
            req: req.clone(),
            id: tenure_core::GrantId::from_random(rand(91, 0, k as u64)),
        })
        .collect();
    let before = m.store().transactions();
    let answers = m.run_batch(&ops);
    assert_eq!(
        m.store().transactions(),
        before + 1,
        "{kind:?}: the batch fell back to one transaction per op"
    );
    assert_eq!(answers.len(), ops.len(), "{kind:?}");
    for (k, a) in answers.iter().enumerate() {
        match (k, a) {
            (6, Err(ManagerError::Denied(Denial::ServersExceeded { .. }))) => {}
            (6, other) => panic!("{kind:?}: third tight grant: {other:?}"),
            (_, Ok(Answer::Granted(_))) => {}
            (_, other) => panic!("{kind:?}: grant {k}: {other:?}"),
        }
    }
    let (held, usage, totals, counted) = m
        .read(|tx, now| {
            Ok((
                tx.held_grants()?,
                tx.usage_since(UnixMillis(0), 100)?,
                tx.pool_totals(now)?,
                [
                    tx.pool_view(&instance("prod", "tight", "x", 9), now, 0)?
                        .held,
                    tx.pool_view(&instance("prod", "wide", "x", 9), now, 0)?
                        .held,
                ],
            ))
        })
        .expect("read");
    let granted_id = |k: usize| match &answers[k] {
        Ok(Answer::Granted(g)) => g.grant_id,
        other => panic!("{other:?}"),
    };
    let mut expected: Vec<_> = [1, 2, 3, 4, 5].iter().map(|k| granted_id(*k)).collect();
    expected.sort_unstable();
    let mut got: Vec<_> = held.iter().map(|g| g.grant_id).collect();
    got.sort_unstable();
    assert_eq!(got, expected, "{kind:?}: held grants");
    let g0 = held
        .iter()
        .find(|g| g.grant_id == granted_id(4))
        .expect("g0's second grant");
    assert_eq!(g0.facts.cores, 4, "{kind:?}");
    assert_eq!(usage.len(), 1, "{kind:?}: the replaced grant's usage row");
    assert_eq!(usage[0].grant_id, granted_id(0), "{kind:?}");
    assert_eq!(
        usage[0].facts, reqs[0].facts,
        "{kind:?}: ip and version kept"
    );
    assert_eq!(
        totals,
        vec![
            PoolTotalsRow {
                pool: pool("prod", "tight"),
                totals: PoolTotals {
                    servers: 2,
                    total_cores: 2
                }
            },
            PoolTotalsRow {
                pool: pool("prod", "wide"),
                totals: PoolTotals {
                    servers: 3,
                    total_cores: 7
                }
            },
        ],
        "{kind:?}"
    );
    assert_eq!(
        counted,
        [totals[0].totals, totals[1].totals],
        "{kind:?}: running counts"
    );
}

fn batched_grants_are_written_sqlite() {
    batched_grants_are_written(Kind::Sqlite);
}

fn batched_grants_are_written_postgres() {
    batched_grants_are_written(Kind::Postgres);
}

fn batched_grants_are_written_mysql() {
    batched_grants_are_written(Kind::Mysql);
}

/// A batch's first grant in a pool, to an instance that holds a grant from
/// before the batch: the batch read the instance's row with the others, and
/// its decision must see it (or the new grant would collide with the old
/// row, and the batch would fall back to one transaction per op).
fn a_batch_regrants_a_held_instance(kind: Kind) {
    let db = TestDb::of(kind);
    let m = group_manager(&db.url);
    install(&m, &[("prod", "wide", 100)], 3_600);
    let held = m
        .grant(&request("prod", "wide", "h0", 1, 1), rand(92, 0, 0))
        .expect("grant h0")
        .grant_id;
    let ops: Vec<Op> = [("h0", 2), ("n0", 1)]
        .iter()
        .enumerate()
        .map(|(k, (host, cores))| Op::Grant {
            req: request("prod", "wide", host, 1, *cores),
            id: tenure_core::GrantId::from_random(rand(92, 1, k as u64)),
        })
        .collect();
    let before = m.store().transactions();
    let answers = m.run_batch(&ops);
    assert_eq!(
        m.store().transactions(),
        before + 1,
        "{kind:?}: the batch fell back to one transaction per op: {answers:?}"
    );
    assert!(answers.iter().all(Result::is_ok), "{kind:?}: {answers:?}");
    let (rows, totals) = m
        .read(|tx, now| Ok((tx.held_grants()?, tx.pool_totals(now)?)))
        .expect("read");
    assert_eq!(rows.len(), 2, "{kind:?}: {rows:?}");
    assert!(
        rows.iter().all(|g| g.grant_id != held),
        "{kind:?}: replaced"
    );
    assert_eq!(
        totals,
        vec![PoolTotalsRow {
            pool: pool("prod", "wide"),
            totals: PoolTotals {
                servers: 2,
                total_cores: 3
            }
        }],
        "{kind:?}"
    );
}

fn a_batch_regrants_a_held_instance_sqlite() {
    a_batch_regrants_a_held_instance(Kind::Sqlite);
}

fn a_batch_regrants_a_held_instance_postgres() {
    a_batch_regrants_a_held_instance(Kind::Postgres);
}

fn a_batch_regrants_a_held_instance_mysql() {
    a_batch_regrants_a_held_instance(Kind::Mysql);
}

/// A manager remembers the pool of every grant it has seen, so its batch
/// locks that pool without reading the grant first. Another manager ends two
/// of those grants meanwhile (an admin revoke, a release): the batch still
/// answers from what it reads under the lock, in one transaction, and the
/// pool's count is the same seen from either manager.
fn a_batch_sees_grants_another_manager_ended(kind: Kind) {
    let db = TestDb::of(kind);
    let (m1, m2) = (group_manager(&db.url), group_manager(&db.url));
    install(&m1, &[("prod", "wide", 100)], 3_600);
    let ids = grant_wide(&m1, "e", 94, 3);
    let renew_all = || -> Vec<Op> {
        ids.iter()
            .map(|id| Op::Renew {
                id: *id,
                client_time: None,
            })
            .collect()
    };
    // m1 reads the three grants, and so learns their pool.
    let first = m1.run_batch(&renew_all());
    assert!(first.iter().all(Result::is_ok), "{kind:?}: {first:?}");
    m2.revoke(ids[0]).expect("revoke through the other manager");
    m2.release(ids[1])
        .expect("release through the other manager");
    let before = m1.store().transactions();
    let answers = m1.run_batch(&renew_all());
    assert_eq!(
        m1.store().transactions(),
        before + 1,
        "{kind:?}: the batch fell back to one transaction per op: {answers:?}"
    );
    assert!(
        matches!(answers[0], Err(ManagerError::Denied(Denial::Revoked))),
        "{kind:?}: {:?}",
        answers[0]
    );
    assert!(
        matches!(answers[1], Err(ManagerError::Denied(Denial::UnknownGrant))),
        "{kind:?}: {:?}",
        answers[1]
    );
    assert!(
        matches!(answers[2], Ok(Answer::Renewed(_))),
        "{kind:?}: {:?}",
        answers[2]
    );
    for m in [&m1, &m2] {
        let (held, totals) = m
            .read(|tx, now| Ok((tx.held_grants()?, tx.pool_totals(now)?)))
            .expect("read");
        assert_eq!(
            held.iter().map(|g| g.grant_id).collect::<Vec<_>>(),
            vec![ids[2]],
            "{kind:?}"
        );
        assert_eq!(
            totals,
            vec![PoolTotalsRow {
                pool: pool("prod", "wide"),
                totals: PoolTotals {
                    servers: 1,
                    total_cores: 1
                }
            }],
            "{kind:?}"
        );
    }
}

fn a_batch_sees_grants_another_manager_ended_sqlite() {
    a_batch_sees_grants_another_manager_ended(Kind::Sqlite);
}

fn a_batch_sees_grants_another_manager_ended_postgres() {
    a_batch_sees_grants_another_manager_ended(Kind::Postgres);
}

fn a_batch_sees_grants_another_manager_ended_mysql() {
    a_batch_sees_grants_another_manager_ended(Kind::Mysql);
}

/// T3 with M5: a batch decides at the storage instant after the pool locks
/// it waited for, not before. Another transaction holds the pool of a grant
/// this manager has seen for 300 ms; the grant's renewal, sent meanwhile,
/// must be stamped no earlier than that transaction's last clock read.
fn a_batch_decides_after_the_locks_it_waited_for(kind: Kind) {
    let db = TestDb::of(kind);
    let m = group_manager(&db.url);
    install(&m, &[("prod", "wide", 100)], 3_600);
    let id = grant_wide(&m, "t", 95, 1)[0];
    let holder = DieselStore::connect(
        &db.url,
        StoreOptions {
            pool_size: 1,
            ..StoreOptions::default()
        },
    )
    .expect("connect the lock holder");
    let locked = Barrier::new(2);
    let (answers, released) = std::thread::scope(|s| {
        let held = s.spawn(|| {
            holder
                .transaction(&mut |tx| {
                    tx.lock_pool(&pool("prod", "wide"))?;
                    locked.wait();
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    tx.now()
                })
                .expect("hold the pool")
        });
        locked.wait();
        let answers = m.run_batch(&[Op::Renew {
            id,
            client_time: None,
        }]);
        (answers, held.join().expect("lock holder"))
    });
    assert!(answers.iter().all(Result::is_ok), "{kind:?}: {answers:?}");
    let held = m.read(|tx, _| tx.held_grants()).expect("read");
    let renewed = held.iter().find(|g| g.grant_id == id).expect("held");
    assert!(
        renewed.last_renewed >= released,
        "{kind:?}: renewed at {:?}, before the lock was released at {released:?}",
        renewed.last_renewed
    );
}

fn a_batch_decides_after_the_locks_it_waited_for_sqlite() {
    a_batch_decides_after_the_locks_it_waited_for(Kind::Sqlite);
}

fn a_batch_decides_after_the_locks_it_waited_for_postgres() {
    a_batch_decides_after_the_locks_it_waited_for(Kind::Postgres);
}

fn a_batch_decides_after_the_locks_it_waited_for_mysql() {
    a_batch_decides_after_the_locks_it_waited_for(Kind::Mysql);
}

/// More grants past their deadline than one read returns: a batch of grants
/// reclaims them read after read, exactly as the same grants one per
/// transaction would.
fn a_batch_reclaims_a_backlog_beyond_one_read() {
    let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
    let make = || {
        let c = clock.clone();
        let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
        let m = Manager::new(store, ManagerConfig::default(), fixtures::trusted());
        install(&m, &[("prod", "big", 1_000)], 600);
        m
    };
    let (batched, alone) = (make(), make());
    for m in [&batched, &alone] {
        for k in 0..150u64 {
            m.grant(
                &request("prod", "big", &format!("old{k}"), 1, 1),
                rand(92, 0, k),
            )
            .expect("grant");
        }
    }
    // Past every deadline (grace 600 s plus the reclaim margin).
    clock.fetch_add(3_600_000, Ordering::SeqCst);
    let ops: Vec<Op> = (0..4u64)
        .map(|k| Op::Grant {
            req: request("prod", "big", &format!("new{k}"), 1, 1),
            id: tenure_core::GrantId::from_random(rand(93, 0, k)),
        })
        .collect();
    let together = batched.run_batch(&ops);
    let apart: Vec<OpResult> = ops
        .iter()
        .flat_map(|op| alone.run_batch(std::slice::from_ref(op)))
        .collect();
    assert_eq!(together, apart);
    let state = |m: &Manager<MemoryStore>| {
        m.read(|tx, _| Ok((tx.held_grants()?, tx.usage_since(UnixMillis(0), 1_000)?)))
            .expect("read")
    };
    let (held, usage) = state(&batched);
    assert_eq!(held.len(), 4, "only the new grants are held");
    assert_eq!(usage.len(), 150, "every old grant reclaimed");
    assert_eq!(state(&batched), state(&alone));
}

fn replaced_of(r: &OpResult) -> Option<String> {
    match r {
        Err(ManagerError::Denied(d @ Denial::Replaced { .. })) => Some(d.to_string()),
        _ => None,
    }
}

/// M3 on the batch path: a grant that replaces an instance's grant and a
/// renewal of the replaced grant, in one shared transaction and in a later
/// one (on the manager that saw the grants, and on one that did not): the
/// renewal answers `replaced` naming the instance, never `unknown_grant`, a
/// release of it is `unknown_grant`, and the batch does not fall back to one
/// transaction per op.
fn a_batch_renews_a_replaced_grant<S: Store>(kind: &str, m: &Manager<S>, fresh: &Manager<S>) {
    install(m, &[("prod", "wide", 100)], 3_600);
    let old = grant_wide(m, "r", 96, 2);
    let new = |k: u64| tenure_core::GrantId::from_random(rand(96, 1, k));
    let renew = |id| Op::Renew {
        id,
        client_time: None,
    };
    let grant = |host: &str, k| Op::Grant {
        req: request("prod", "wide", host, 1, 1),
        id: new(k),
    };
    let ops = vec![
        renew(old[0]),
        grant("r0", 0),
        renew(old[0]),
        Op::Release(old[0]),
        renew(new(0)),
        grant("r1", 1),
        renew(old[1]),
    ];
    let answers = m.run_batch(&ops);
    assert!(
        matches!(answers[0], Ok(Answer::Renewed(_))),
        "{kind}: {answers:?}"
    );
    assert!(
        matches!(answers[1], Ok(Answer::Granted(_))),
        "{kind}: {answers:?}"
    );
    let named = |host: &str| format!("environment=prod product=wide hostname={host} port=1");
    let said = replaced_of(&answers[2]).unwrap_or_else(|| panic!("{kind}: {:?}", answers[2]));
    assert!(said.contains(&named("r0")), "{kind}: {said}");
    assert_eq!(
        answers[3],
        Err(ManagerError::Denied(Denial::UnknownGrant)),
        "{kind}"
    );
    assert!(
        matches!(answers[4], Ok(Answer::Renewed(_))),
        "{kind}: {answers:?}"
    );
    assert!(
        matches!(answers[5], Ok(Answer::Granted(_))),
        "{kind}: {answers:?}"
    );
    let said = replaced_of(&answers[6]).unwrap_or_else(|| panic!("{kind}: {:?}", answers[6]));
    assert!(said.contains(&named("r1")), "{kind}: {said}");
    // Later transactions read the usage rows the first one wrote.
    for mgr in [m, fresh] {
        let later = mgr.run_batch(&[renew(old[0]), renew(new(0)), renew(old[1]), renew(new(1))]);
        assert!(replaced_of(&later[0]).is_some(), "{kind}: {later:?}");
        assert!(
            matches!(later[1], Ok(Answer::Renewed(_))),
            "{kind}: {later:?}"
        );
        assert!(replaced_of(&later[2]).is_some(), "{kind}: {later:?}");
        assert!(
            matches!(later[3], Ok(Answer::Renewed(_))),
            "{kind}: {later:?}"
        );
        // Alone, as a single request runs.
        let alone = mgr.renew(old[1], None);
        assert!(
            matches!(alone, Err(ManagerError::Denied(Denial::Replaced { .. }))),
            "{kind}: {alone:?}"
        );
    }
    let (held, usage) = m
        .read(|tx, _| Ok((tx.held_grants()?, tx.usage_since(UnixMillis(0), 100)?)))
        .expect("read");
    let mut held: Vec<_> = held.iter().map(|g| g.grant_id).collect();
    held.sort_unstable();
    let mut expected = vec![new(0), new(1)];
    expected.sort_unstable();
    assert_eq!(held, expected, "{kind}");
    let ended: Vec<_> = usage.iter().map(|u| (u.grant_id, u.end_reason)).collect();
    assert_eq!(
        ended,
        [
            (old[0], tenure_core::wire::EndReason::Replaced),
            (old[1], tenure_core::wire::EndReason::Replaced)
        ],
        "{kind}"
    );
    let renewed_at = match &answers[0] {
        Ok(Answer::Renewed(r)) => r.server_time_ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        usage[0].last_request_ms, renewed_at,
        "{kind}: the batch's renewal before the replacement is kept"
    );
}

fn a_batch_renews_a_replaced_grant_on(kind: Kind) {
    let db = TestDb::of(kind);
    let m = group_manager(&db.url);
    let before = m.store().transactions();
    a_batch_renews_a_replaced_grant(&format!("{kind:?}"), &m, &group_manager(&db.url));
    // The install, two grants, two batches, one renewal alone and the
    // final read: one transaction each.
    assert_eq!(
        m.store().transactions(),
        before + 1 + 2 + 2 + 1 + 1,
        "{kind:?}: a batch fell back to one transaction per op"
    );
}

fn a_batch_renews_a_replaced_grant_memory() {
    let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
    let c = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
    let m = Manager::new(store.clone(), ManagerConfig::default(), fixtures::trusted())
        .with_group_commit(64);
    let fresh = Manager::new(store, ManagerConfig::default(), fixtures::trusted());
    a_batch_renews_a_replaced_grant("memory", &m, &fresh);
}

fn a_batch_renews_a_replaced_grant_sqlite() {
    a_batch_renews_a_replaced_grant_on(Kind::Sqlite);
}

fn a_batch_renews_a_replaced_grant_postgres() {
    a_batch_renews_a_replaced_grant_on(Kind::Postgres);
}

fn a_batch_renews_a_replaced_grant_mysql() {
    a_batch_renews_a_replaced_grant_on(Kind::Mysql);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "a_batch_answers_as_one_transaction_per_op",
            &[],
            a_batch_answers_as_one_transaction_per_op,
        ),
        trial(
            "group_commit_under_load_sqlite",
            &[],
            group_commit_under_load_sqlite,
        ),
        trial(
            "group_commit_under_load_postgres",
            support::needs(Kind::Postgres),
            group_commit_under_load_postgres,
        ),
        trial(
            "group_commit_under_load_mysql",
            support::needs(Kind::Mysql),
            group_commit_under_load_mysql,
        ),
        trial(
            "batched_renewals_are_written_sqlite",
            &[],
            batched_renewals_are_written_sqlite,
        ),
        trial(
            "batched_renewals_are_written_postgres",
            support::needs(Kind::Postgres),
            batched_renewals_are_written_postgres,
        ),
        trial(
            "batched_renewals_are_written_mysql",
            support::needs(Kind::Mysql),
            batched_renewals_are_written_mysql,
        ),
        trial(
            "batched_grants_are_written_sqlite",
            &[],
            batched_grants_are_written_sqlite,
        ),
        trial(
            "batched_grants_are_written_postgres",
            support::needs(Kind::Postgres),
            batched_grants_are_written_postgres,
        ),
        trial(
            "batched_grants_are_written_mysql",
            support::needs(Kind::Mysql),
            batched_grants_are_written_mysql,
        ),
        trial(
            "a_batch_regrants_a_held_instance_sqlite",
            &[],
            a_batch_regrants_a_held_instance_sqlite,
        ),
        trial(
            "a_batch_regrants_a_held_instance_postgres",
            support::needs(Kind::Postgres),
            a_batch_regrants_a_held_instance_postgres,
        ),
        trial(
            "a_batch_regrants_a_held_instance_mysql",
            support::needs(Kind::Mysql),
            a_batch_regrants_a_held_instance_mysql,
        ),
        trial(
            "a_batch_sees_grants_another_manager_ended_sqlite",
            &[],
            a_batch_sees_grants_another_manager_ended_sqlite,
        ),
        trial(
            "a_batch_sees_grants_another_manager_ended_postgres",
            support::needs(Kind::Postgres),
            a_batch_sees_grants_another_manager_ended_postgres,
        ),
        trial(
            "a_batch_sees_grants_another_manager_ended_mysql",
            support::needs(Kind::Mysql),
            a_batch_sees_grants_another_manager_ended_mysql,
        ),
        trial(
            "a_batch_decides_after_the_locks_it_waited_for_sqlite",
            &[],
            a_batch_decides_after_the_locks_it_waited_for_sqlite,
        ),
        trial(
            "a_batch_decides_after_the_locks_it_waited_for_postgres",
            support::needs(Kind::Postgres),
            a_batch_decides_after_the_locks_it_waited_for_postgres,
        ),
        trial(
            "a_batch_decides_after_the_locks_it_waited_for_mysql",
            support::needs(Kind::Mysql),
            a_batch_decides_after_the_locks_it_waited_for_mysql,
        ),
        trial(
            "a_batch_reclaims_a_backlog_beyond_one_read",
            &[],
            a_batch_reclaims_a_backlog_beyond_one_read,
        ),
        trial(
            "a_batch_renews_a_replaced_grant_memory",
            &[],
            a_batch_renews_a_replaced_grant_memory,
        ),
        trial(
            "a_batch_renews_a_replaced_grant_sqlite",
            &[],
            a_batch_renews_a_replaced_grant_sqlite,
        ),
        trial(
            "a_batch_renews_a_replaced_grant_postgres",
            support::needs(Kind::Postgres),
            a_batch_renews_a_replaced_grant_postgres,
        ),
        trial(
            "a_batch_renews_a_replaced_grant_mysql",
            support::needs(Kind::Mysql),
            a_batch_renews_a_replaced_grant_mysql,
        ),
    ])
}
