//! The diesel store against each backend: schema versions, every `Tx` method,
//! rollback on a failed mutation, and the storage clock (T3).

mod support;

use diesel::sql_types::BigInt;
use diesel::{Connection, RunQueryDsl};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Kind, TestDb, grant_once, id, instance, license, limits, pool, request};
use tenure_core::health::ManagerRecord;
use tenure_core::manager::{HeldGrant, ManagerConfig, Mutation, PoolTotals, PoolView};
use tenure_core::wire::{EndReason, HostFacts, Instance};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::{
    BatchTx, DieselStore, GrantsAndNow, LicenseStamp, PoolTotalsRow, SchemaState, StorageError,
    StorageErrorKind, Store, StoreOptions, StoredLicense,
};
use tenure_testkit::trial;

const V1: &str = "20261123000000";
const V2: &str = "20261123000001";
const V3: &str = "20261204000000";
const V4: &str = "20261205000000";
const V5: &str = "20261205000001";

macro_rules! per_backend {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            pub fn trials() -> Vec<tenure_testkit::Pending> {
                let name = |kind: &str| format!("{}::{kind}", stringify!($scenario));
                vec![
                    trial(name("sqlite"), &[], sqlite),
                    trial(name("postgres"), support::needs(Kind::Postgres), postgres),
                    trial(name("mysql"), support::needs(Kind::Mysql), mysql),
                ]
            }

            fn sqlite() {
                run(Kind::Sqlite, super::$scenario);
            }
            fn postgres() {
                run(Kind::Postgres, super::$scenario);
            }
            fn mysql() {
                run(Kind::Mysql, super::$scenario);
            }
        }
    };
}

fn run(kind: Kind, scenario: fn(&TestDb)) {
    scenario(&TestDb::of(kind));
}

fn connect(db: &TestDb) -> DieselStore {
    DieselStore::connect(&db.url, StoreOptions::default()).expect("connect")
}

fn migrated(db: &TestDb) -> DieselStore {
    let store = connect(db);
    store.migrate().expect("migrate");
    store
}

/// Runs `f` in one transaction and expects it to succeed.
fn tx<T>(store: &DieselStore, mut f: impl FnMut(&mut dyn BatchTx) -> Result<T, StorageError>) -> T {
    store.transaction(&mut f).expect("transaction")
}

fn wall_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("ms fit")
}

fn held(n: u64, inst: Instance, cores: u32, at: i64, until: i64) -> HeldGrant {
    HeldGrant {
        grant_id: id(n),
        instance: inst,
        facts: HostFacts {
            cores,
            ip: Some(if n.is_multiple_of(2) {
                "10.0.0.7".parse().expect("ip")
            } else {
                "2001:db8::1".parse().expect("ip")
            }),
            version: Some(format!("1.{n}.0").into()),
        },
        granted_at: UnixMillis(at),
        last_renewed: UnixMillis(at),
        held_until: UnixMillis(until),
        client_skew_ms: Some(-250),
    }
}

// --- schema versions -------------------------------------------------------

fn schema_versions(db: &TestDb) {
    let store = connect(db);
    assert_eq!(
        store.check_schema().expect("check empty"),
        SchemaState::Empty {
            pending: vec![
                V1.to_owned(),
                V2.to_owned(),
                V3.to_owned(),
                V4.to_owned(),
                V5.to_owned()
            ]
        }
    );
    assert_eq!(
        store.migrate().expect("migrate"),
        vec![
            V1.to_owned(),
            V2.to_owned(),
            V3.to_owned(),
            V4.to_owned(),
            V5.to_owned()
        ]
    );
    assert_eq!(store.check_schema().expect("check"), SchemaState::Current);
    assert_eq!(
        store.migrate().expect("migrate again"),
        Vec::<String>::new()
    );

    db.exec("INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000000')");
    for result in [
        store.check_schema().map(|_| ()),
        store.migrate().map(|_| ()),
    ] {
        match result {
            Err(e) if e.kind() == StorageErrorKind::Schema => {
                let msg = e.message();
                assert!(msg.contains("20991231000000"), "{msg}");
                assert!(msg.contains(V5), "{msg}");
                assert!(msg.contains("upgrade tenured"), "{msg}");
            }
            other => panic!("expected a Schema error for a newer schema, got {other:?}"),
        }
    }
}
per_backend!(schema_versions);

// --- the admin listing's pages -------------------------------------------

/// `grants_after` pages in `GrantId` order on every backend, whatever the
/// database's collation: ids whose hex starts with digits and with letters,
/// around the `9`/`a` boundary, come back in the order Rust gives them.
fn listing_pages(db: &TestDb) {
    let store = migrated(db);
    let mut grants: Vec<HeldGrant> = [0xa0u8, 0x09, 0xff, 0x0a, 0x9f, 0x00, 0xaa]
        .iter()
        .enumerate()
        .map(|(i, first)| {
            let n = i as u64 + 1;
            let mut g = held(n, instance("prod", "vdp", "h", n as u16), 1, 1_000, 10_000);
            let mut bytes = [0u8; 16];
            bytes[0] = *first;
            bytes[8..].copy_from_slice(&n.to_be_bytes());
            g.grant_id = GrantId::from_random(bytes);
            g
        })
        .collect();
    tx(&store, |t| {
        t.lock_pool(&pool("prod", "vdp"))?;
        for g in &grants {
            t.apply(&Mutation::Insert(g.clone()))?;
        }
        Ok(())
    });
    grants.sort_by_key(|g| g.grant_id);
    let ids = |gs: &[HeldGrant]| gs.iter().map(|g| g.grant_id).collect::<Vec<_>>();

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = tx(&store, |t| t.grants_after(after, 3));
        assert!(page.len() <= 3);
        let full = page.len() == 3;
        after = page.last().map(|g| g.grant_id);
        paged.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(ids(&paged), ids(&grants));
    assert_eq!(paged, grants, "rows round-trip through a page");
    assert_eq!(tx(&store, |t| t.grants_after(None, 100)), grants);
    let last = grants.last().map(|g| g.grant_id);
    assert_eq!(tx(&store, |t| t.grants_after(last, 100)), vec![]);
    assert_eq!(
        ids(&tx(&store, |t| t.grants_after(Some(grants[2].grant_id), 2))),
        ids(&grants[3..5])
    );
}
per_backend!(listing_pages);

// --- every Tx method -------------------------------------------------------

fn round_trips(db: &TestDb) {
    let store = migrated(db);
    let g1 = held(1, instance("prod", "vdp", "a", 1), 4, 1_000, 10_000);
    let g2 = held(2, instance("prod", "vdp", "b.example", 2), 8, 1_100, 5_000);
    let g3 = held(3, instance("test", "vdp", "c", 3), 2, 1_200, 15_000);
    tx(&store, |t| {
        t.lock_pool(&pool("prod", "vdp"))?;
        t.lock_pool(&pool("prod", "vdp"))?;
        for g in [&g3, &g1, &g2] {
            t.apply(&Mutation::Insert(g.clone()))?;
        }
        Ok(())
    });

    tx(&store, |t| {
        assert_eq!(t.grant(g1.grant_id)?, Some(g1.clone()));
        assert_eq!(t.grant(id(99))?, None);
        assert_eq!(t.grant_by_instance(&g2.instance)?, Some(g2.clone()));
        assert_eq!(t.grant_by_instance(&instance("prod", "vdp", "a", 9))?, None);
        assert_eq!(t.held_grants()?, vec![g1.clone(), g2.clone(), g3.clone()]);

        let now = UnixMillis(6_000);
        let pool_grants = [g1.clone(), g2.clone()];
        for inst in [
            &g1.instance,
            &g2.instance,
            &instance("prod", "vdp", "new", 7),
        ] {
            let view = t.pool_view(inst, now, 16)?;
            assert_eq!(view, PoolView::from_grants(&pool_grants, inst, now));
        }
        let view = t.pool_view(&g1.instance, now, 16)?;
        assert_eq!(
            view.held,
            PoolTotals {
                servers: 1,
                total_cores: 4
            }
        );
        assert_eq!(view.same_instance, Some(g1.clone()));
        assert_eq!(view.expired, vec![g2.clone()]);
        // A read of expired grants that fills its limit may have left some
        // out: the totals are then counted in storage, and agree.
        assert_eq!(t.pool_view(&g1.instance, now, 1)?.held, view.held);
        let mut found = t.grants_by_instance(&[
            g2.instance.clone(),
            instance("prod", "vdp", "a", 9),
            g1.instance.clone(),
        ])?;
        found.sort_by_key(|g| g.grant_id);
        let mut want = vec![g1.clone(), g2.clone()];
        want.sort_by_key(|g| g.grant_id);
        assert_eq!(found, want);
        // Held until is exclusive: at 10_000 g1 is no longer held.
        let at_deadline = t.pool_view(&g1.instance, UnixMillis(10_000), 16)?;
        assert_eq!(at_deadline.same_instance, None);
        assert_eq!(at_deadline.held, PoolTotals::default());
        assert_eq!(at_deadline.expired, vec![g2.clone(), g1.clone()]);
        assert_eq!(
            t.pool_view(&g1.instance, UnixMillis(10_000), 1)?
                .expired
                .len(),
            2,
            "the instance's own stale grant is always in the view"
        );

        assert_eq!(t.expired(now, 10)?, vec![g2.clone()]);
        assert_eq!(
            t.expired(UnixMillis(20_000), 10)?,
            vec![g2.clone(), g1.clone(), g3.clone()]
        );
        assert_eq!(
            t.expired(UnixMillis(20_000), 2)?,
            vec![g2.clone(), g1.clone()]
        );
        assert_eq!(
            t.pool_totals(UnixMillis(1))?,
            vec![
                PoolTotalsRow {
                    pool: pool("prod", "vdp"),
                    totals: PoolTotals {
                        servers: 2,
                        total_cores: 12
                    }
                },
                PoolTotalsRow {
                    pool: pool("test", "vdp"),
                    totals: PoolTotals {
                        servers: 1,
                        total_cores: 2
                    }
                },
            ]
        );
        assert_eq!(
            t.pool_totals(now)?,
            vec![
                PoolTotalsRow {
                    pool: pool("prod", "vdp"),
                    totals: PoolTotals {
                        servers: 1,
                        total_cores: 4
                    }
                },
                PoolTotalsRow {
                    pool: pool("test", "vdp"),
                    totals: PoolTotals {
                        servers: 1,
                        total_cores: 2
                    }
                },
            ]
        );
        Ok(())
    });

    // Renewals, with and without a client skew.
    for skew in [Some(42), None] {
        tx(&store, |t| {
            t.apply(&Mutation::Renew {
                grant_id: g1.grant_id,
                last_renewed: UnixMillis(7_000),
                held_until: UnixMillis(20_000),
                client_skew_ms: skew,
            })
        });
        let got = tx(&store, |t| t.grant(g1.grant_id)).expect("g1 held");
        assert_eq!(got.last_renewed, UnixMillis(7_000));
        assert_eq!(got.held_until, UnixMillis(20_000));
        assert_eq!(got.client_skew_ms, skew);
        assert_eq!(got.granted_at, g1.granted_at);
    }

    // Ends, applied out of end-time order; usage comes back oldest first.
    let g1_now = tx(&store, |t| t.grant(g1.grant_id)).expect("g1");
    let u1 = g1_now.usage(UnixMillis(9_000), EndReason::Revoked);
    let u2 = g2.usage(UnixMillis(8_000), EndReason::Released);
    tx(&store, |t| {
        t.apply(&Mutation::End {
            grant_id: g1.grant_id,
            usage: u1.clone(),
        })?;
        t.apply(&Mutation::End {
            grant_id: g2.grant_id,
            usage: u2.clone(),
        })
    });
    tx(&store, |t| {
        assert_eq!(t.grant(g1.grant_id)?, None);
        assert_eq!(t.held_grants()?, vec![g3.clone()]);
        assert_eq!(
            t.usage_since(UnixMillis(0), 10)?,
            vec![u2.clone(), u1.clone()]
        );
        assert_eq!(t.usage_since(UnixMillis(8_500), 10)?, vec![u1.clone()]);
        assert_eq!(t.usage_since(UnixMillis(8_000), 1)?, vec![u2.clone()]);
        assert_eq!(t.usage_since(UnixMillis(9_001), 10)?, vec![]);
        assert_eq!(t.end_reason(g1.grant_id)?, Some(EndReason::Revoked));
        assert_eq!(t.end_reason(g2.grant_id)?, Some(EndReason::Released));
        assert_eq!(t.end_reason(g3.grant_id)?, None);
        Ok(())
    });

    // License: absent, installed, replaced.
    assert_eq!(tx(&store, |t| t.license()), None);
    let l1 = StoredLicense {
        license_id: "lic-1".into(),
        issued_at: UnixMillis(100),
        armoured: "-----BEGIN TENURE LICENSE-----\nabc\n-----END TENURE LICENSE-----\n".into(),
        installed_at: UnixMillis(200),
    };
    let l2 = StoredLicense {
        license_id: "lic-2".into(),
        issued_at: UnixMillis(300),
        armoured: "x".repeat(20_000),
        installed_at: UnixMillis(400),
    };
    let stamp = |id: &str, issued: i64| LicenseStamp {
        license_id: id.into(),
        issued_at: UnixMillis(issued),
    };
    // The clock and the stamp read together agree with each read alone.
    let stamp_alone = |store: &DieselStore| {
        let before = tx(store, |t| t.now());
        let read = tx(store, |t| t.now_and_license_stamp());
        let (now, stamp) = (read.now, read.stamp);
        assert_eq!(read.clock, tx(store, |t| t.stored_clock(now)));
        let after = tx(store, |t| t.now());
        assert!(
            before <= now && now <= after,
            "{before:?} {now:?} {after:?}"
        );
        assert_eq!(stamp, tx(store, |t| t.license_stamp()));
        // And read with grants: with some found (one statement on
        // PostgreSQL), with none found, and with none asked.
        let mut held: Vec<GrantId> = tx(store, |t| t.held_grants())
            .iter()
            .map(|g| g.grant_id)
            .collect();
        held.sort_unstable();
        assert!(!held.is_empty());
        let with_missing: Vec<GrantId> = held.iter().copied().chain([id(98)]).collect();
        for ids in [&with_missing[..], &[id(98)], &[]] {
            let GrantsAndNow { grants: g, read } = tx(store, |t| t.grants_and_now(ids));
            let (now, with_grants) = (read.now, read.stamp);
            let after = tx(store, |t| t.now());
            assert!(
                before <= now && now <= after,
                "{before:?} {now:?} {after:?}"
            );
            assert_eq!(with_grants, stamp);
            let mut g: Vec<GrantId> = g.iter().map(|g| g.grant_id).collect();
            g.sort_unstable();
            let expected = if ids.len() > 1 {
                held.clone()
            } else {
                Vec::new()
            };
            assert_eq!(g, expected);
        }
        stamp
    };
    assert_eq!(stamp_alone(&store), None);
    tx(&store, |t| t.put_license(&l1));
    assert_eq!(tx(&store, |t| t.license()), Some(l1.clone()));
    assert_eq!(stamp_alone(&store), Some(stamp("lic-1", 100)));
    tx(&store, |t| t.put_license(&l2));
    assert_eq!(tx(&store, |t| t.license()), Some(l2.clone()));
    assert_eq!(stamp_alone(&store), Some(stamp("lic-2", 300)));

    // Managers: put, update (offset back to NULL), list in node order, delete.
    let m_b = ManagerRecord {
        node_id: "node-b".into(),
        live_since: UnixMillis(10),
        last_seen: UnixMillis(20),
        clock_offset_ms: Some(-12),
        instance: Some("b-0123456789abcdef".into()),
    };
    let m_a = ManagerRecord {
        node_id: "node-a".into(),
        live_since: UnixMillis(11),
        last_seen: UnixMillis(21),
        clock_offset_ms: None,
        instance: None,
    };
    assert_eq!(tx(&store, |t| t.managers()), vec![]);
    tx(&store, |t| {
        t.put_manager(&m_b)?;
        t.put_manager(&m_a)
    });
    assert_eq!(tx(&store, |t| t.managers()), vec![m_a.clone(), m_b.clone()]);
    let m_b2 = ManagerRecord {
        last_seen: UnixMillis(30),
        clock_offset_ms: None,
        instance: None,
        ..m_b.clone()
    };
    tx(&store, |t| t.put_manager(&m_b2));
    tx(&store, |t| t.put_manager(&m_b2)); // the same values again
    assert_eq!(
        tx(&store, |t| t.managers()),
        vec![m_a.clone(), m_b2.clone()]
    );
    tx(&store, |t| {
        t.delete_manager("node-a")?;
        t.delete_manager("node-unknown")
    });
    assert_eq!(tx(&store, |t| t.managers()), vec![m_b2.clone()]);
}
per_backend!(round_trips);

// --- a failed mutation rolls the whole transaction back --------------------

fn failed_mutation_rolls_back(db: &TestDb) {
    let store = migrated(db);
    let g = held(5, instance("prod", "vdp", "r", 5), 1, 1, 1_000);
    let unknown: GrantId = id(77);
    let renew = store.transaction(&mut |t| {
        t.apply(&Mutation::Insert(g.clone()))?;
        t.apply(&Mutation::Renew {
            grant_id: unknown,
            last_renewed: UnixMillis(2),
            held_until: UnixMillis(3),
            client_skew_ms: None,
        })
    });
    assert!(
        matches!(&renew, Err(e) if e.kind() == StorageErrorKind::Corrupt),
        "{renew:?}"
    );
    let end = store.transaction(&mut |t| {
        t.apply(&Mutation::Insert(g.clone()))?;
        t.apply(&Mutation::End {
            grant_id: unknown,
            usage: g.usage(UnixMillis(5), EndReason::Released),
        })
    });
    assert!(
        matches!(&end, Err(e) if e.kind() == StorageErrorKind::Corrupt),
        "{end:?}"
    );
    // Neither transaction left its insert behind.
    assert_eq!(tx(&store, |t| t.held_grants()), vec![]);
    assert_eq!(tx(&store, |t| t.usage_since(UnixMillis(0), 10)), vec![]);
    // A duplicate instance is refused, not silently merged.
    tx(&store, |t| t.apply(&Mutation::Insert(g.clone())));
    let dup = HeldGrant {
        grant_id: id(6),
        ..g.clone()
    };
    let r = store.transaction(&mut |t| t.apply(&Mutation::Insert(dup.clone())));
    assert!(r.is_err(), "{r:?}");
    assert_eq!(tx(&store, |t| t.held_grants()), vec![g.clone()]);
}
per_backend!(failed_mutation_rolls_back);

// --- the storage clock ------------------------------------------------------

fn now_is_storage_clock(db: &TestDb) {
    let store = migrated(db);
    let before = wall_ms();
    let now = tx(&store, |t| t.now());
    let after = wall_ms();
    // The database runs on this machine: its clock agrees with ours.
    assert!(
        now.0 >= before - 2_000 && now.0 <= after + 2_000,
        "storage now {} outside [{before}, {after}]",
        now.0
    );

    // A grant made at the storage clock carries storage-clock deadlines.
    let lic = license(&[("prod", "vdp", limits(Some(5), None, None))], 3_600);
    let req = request("prod", "vdp", "clock", 1, 2);
    let t0 = tx(&store, |t| t.now());
    grant_once(&store, &lic, &req, id(500))
        .expect("storage")
        .expect("granted");
    let t1 = tx(&store, |t| t.now());
    let g = tx(&store, |t| t.grant(id(500))).expect("held");
    assert!(
        g.granted_at >= t0 && g.granted_at <= t1,
        "{g:?} not in [{t0:?}, {t1:?}]"
    );
    let margin = ManagerConfig::default().reclaim_margin;
    assert_eq!(
        g.held_until,
        g.granted_at
            .saturating_add(Duration::from_secs(3_600))
            .saturating_add(margin)
    );
}
per_backend!(now_is_storage_clock);

/// PostgreSQL: `Tx::now` is the server's clock in epoch milliseconds,
/// whatever time zone the database or the session is set to.
fn postgres_now_ignores_time_zones() {
    let db = TestDb::postgres();
    let dbname = db.url.rsplit('/').next().expect("db name").to_owned();
    db.exec(&format!(
        "ALTER DATABASE {dbname} SET timezone TO 'Pacific/Kiritimati'"
    ));
    let store = migrated(&db);
    let mut raw = diesel::PgConnection::establish(&db.url).expect("raw connection");
    diesel::sql_query("SET TIME ZONE 'America/St_Johns'")
        .execute(&mut raw)
        .expect("set tz");
    let db_clock = |c: &mut diesel::PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<BigInt>(
            "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        ))
        .get_result(c)
        .expect("db clock")
    };
    for _ in 0..5 {
        let a = db_clock(&mut raw);
        let now = tx(&store, |t| t.now()).0;
        let b = db_clock(&mut raw);
        assert!(
            a <= now && now <= b,
            "store now {now} outside db clock [{a}, {b}]"
        );
    }
    // And the zones really are different from UTC there.
    let offset: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
        "extract(timezone from now())::bigint",
    ))
    .get_result(&mut raw)
    .expect("tz offset");
    assert_ne!(offset, 0);
}

/// MariaDB/MySQL: the same with a +13:00 session time zone on the reader.
fn mysql_now_ignores_time_zones() {
    let db = TestDb::mysql();
    let store = migrated(&db);
    let mut raw = diesel::MysqlConnection::establish(&db.url).expect("raw connection");
    diesel::sql_query("SET time_zone = '+13:00'")
        .execute(&mut raw)
        .expect("set tz");
    let db_clock = |c: &mut diesel::MysqlConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<BigInt>(
            "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)",
        ))
        .get_result(c)
        .expect("db clock")
    };
    for _ in 0..5 {
        let a = db_clock(&mut raw);
        let now = tx(&store, |t| t.now()).0;
        let b = db_clock(&mut raw);
        assert!(
            a <= now && now <= b,
            "store now {now} outside db clock [{a}, {b}]"
        );
    }
}

/// The store never reads the process clock: deadlines come from the database.
fn store_source_reads_no_process_clock() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sql");
    let mut checked = 0;
    let mut dirs = vec![dir.clone()];
    let mut files = Vec::new();
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("a source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read source");
        for word in [
            "SystemTime",
            "Instant::now",
            "chrono::",
            "Utc::now",
            "Local::now",
        ] {
            assert!(!text.contains(word), "{} mentions {word}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} files under {}", dir.display());
}

/// `tenure_storage::deadline`: once the request's deadline has passed, a
/// transaction rolls back instead of committing, and one not yet begun does
/// not begin; the connection stays usable.
fn a_transaction_past_its_deadline_commits_nothing(db: &TestDb) {
    use std::time::Instant;
    use tenure_storage::deadline::with_deadline;
    let store = migrated(db);
    let record = ManagerRecord {
        node_id: "late".into(),
        live_since: UnixMillis(10),
        last_seen: UnixMillis(20),
        clock_offset_ms: None,
        instance: None,
    };
    let soon = Instant::now() + Duration::from_millis(300);
    let late = with_deadline(Some(soon), || {
        store.transaction(&mut |tx| {
            tx.put_manager(&record)?;
            // The frontend answers 503 meanwhile.
            std::thread::sleep(soon.saturating_duration_since(Instant::now()));
            Ok(())
        })
    });
    assert!(
        matches!(&late, Err(e) if e.kind() == StorageErrorKind::Unavailable),
        "{late:?}"
    );
    assert!(tx(&store, |t| t.managers()).is_empty(), "rolled back");
    let mut ran = false;
    let never = with_deadline(Some(Instant::now()), || {
        store.transaction(&mut |_tx| {
            ran = true;
            Ok(())
        })
    });
    assert!(
        matches!(&never, Err(e) if e.kind() == StorageErrorKind::Unavailable),
        "{never:?}"
    );
    assert!(!ran, "a transaction past its deadline does not begin");
    tx(&store, |t| t.put_manager(&record));
    assert_eq!(tx(&store, |t| t.managers()).len(), 1);
}
per_backend!(a_transaction_past_its_deadline_commits_nothing);

fn main() -> std::process::ExitCode {
    let mut trials = vec![
        trial(
            "postgres_now_ignores_time_zones",
            support::needs(Kind::Postgres),
            postgres_now_ignores_time_zones,
        ),
        trial(
            "mysql_now_ignores_time_zones",
            support::needs(Kind::Mysql),
            mysql_now_ignores_time_zones,
        ),
        trial(
            "store_source_reads_no_process_clock",
            &[],
            store_source_reads_no_process_clock,
        ),
    ];
    for scenario in [
        schema_versions::trials,
        listing_pages::trials,
        round_trips::trials,
        failed_mutation_rolls_back::trials,
        now_is_storage_clock::trials,
        a_transaction_past_its_deadline_commits_nothing::trials,
    ] {
        trials.extend(scenario());
    }
    tenure_testkit::run(trials)
}
