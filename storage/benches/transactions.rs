//! Grant and renew transactions per backend, durable: one commit each, and
//! renewals from 64 threads sharing commits through group commit.
//! PostgreSQL and MariaDB must be running (127.0.0.1, as in DEVELOPERS.md);
//! a backend that cannot be reached is skipped with a message.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection};
use std::collections::BTreeMap;
use std::time::Instant;
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::manager::ManagerConfig;
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, HostFacts, Instance};
use tenure_storage::{DieselStore, InstallPolicy, Manager, StoreOptions};

fn name(s: &str) -> Name {
    Name::parse("bench", s).expect("name")
}

fn request(host: &str) -> GrantRequest {
    GrantRequest {
        instance: Instance {
            environment: name("production"),
            product: name("vdp"),
            hostname: Hostname::parse(host).expect("host"),
            port: 9999,
        },
        facts: HostFacts {
            cores: 8,
            ip: None,
            version: None,
        },
        client_time: None,
    }
}

/// Renewing threads in the group-commit bench, as HTTP load runs at c=64.
const CONCURRENCY: u64 = 64;

fn manager(url: &str, pool_size: u32) -> Manager<DieselStore> {
    let store = DieselStore::connect(
        url,
        StoreOptions {
            pool_size,
            ..StoreOptions::default()
        },
    )
    .expect("connect");
    store.migrate().expect("migrate");
    let key = SecretKey::from_seed([3; 32]);
    let mut products = BTreeMap::new();
    products.insert(name("vdp"), Limits::default());
    let mut limits = BTreeMap::new();
    limits.insert(name("production"), products);
    let now = tenure_service_free_clock();
    let lic = License {
        license_id: "bench".into(),
        licensee: "Bench".into(),
        issued_at: now,
        not_before: UnixMillis(now.0 - 86_400_000),
        not_after: UnixMillis(now.0 + 86_400_000),
        max_managers: 2,
        grace_period_s: 432_000,
        limits,
        extra: BTreeMap::new(),
    };
    let m = Manager::new(store, ManagerConfig::default(), vec![key.verifying_key()]);
    m.install_license(&sign(&lic, &key).expect("sign"), InstallPolicy::Replace)
        .expect("install");
    m
}

fn tenure_service_free_clock() -> UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    UnixMillis(ms)
}

fn databases() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let dir = std::env::temp_dir().join(format!("tenure-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    out.push((
        "sqlite",
        format!("sqlite://{}", dir.join("bench.db").display()),
    ));
    let db = format!("tenure_bench_{}", std::process::id());
    // PostgreSQL runs a multi-statement batch as one transaction, where
    // DROP/CREATE DATABASE are refused: one statement each.
    match PgConnection::establish("postgres://postgres@127.0.0.1:5432/postgres")
        .map_err(|e| e.to_string())
        .and_then(|mut c| {
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
                .and_then(|()| c.batch_execute(&format!("CREATE DATABASE {db}")))
                .map_err(|e| e.to_string())
        }) {
        Ok(()) => out.push((
            "postgres",
            format!("postgres://postgres@127.0.0.1:5432/{db}"),
        )),
        Err(e) => eprintln!("SKIPPED postgres: {e}"),
    }
    match MysqlConnection::establish("mysql://root@127.0.0.1:3306/mysql")
        .map_err(|e| e.to_string())
        .and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"
            ))
            .map_err(|e| e.to_string())
        }) {
        Ok(()) => out.push(("mariadb", format!("mysql://root@127.0.0.1:3306/{db}"))),
        Err(e) => eprintln!("SKIPPED mariadb: {e}"),
    }
    out
}

fn transactions(c: &mut Criterion) {
    for (backend, url) in databases() {
        let m = manager(&url, 1);
        let held = m.grant(&request("renewer"), [1; 16]).expect("grant");
        let mut group = c.benchmark_group(backend);
        group.bench_function("renew (one durable transaction)", |b| {
            b.iter(|| m.renew(held.grant_id, None).expect("renew"))
        });
        let mut n = 0u64;
        group.bench_function("grant, replacing the instance's grant (M3)", |b| {
            b.iter(|| {
                n += 1;
                let mut random = [2u8; 16];
                random[..8].copy_from_slice(&n.to_be_bytes());
                m.grant(&request("granter"), random).expect("grant")
            })
        });
        // One connection per core (2 here); 64 threads renew their own grant
        // at once and group commit shares each durable commit among them.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        let gm = manager(&url, cores).with_group_commit(64);
        let held: Vec<_> = (0..CONCURRENCY)
            .map(|i| {
                let mut random = [9u8; 16];
                random[..8].copy_from_slice(&i.to_be_bytes());
                gm.grant(&request(&format!("renewer-{i}")), random)
                    .expect("grant")
                    .grant_id
            })
            .collect();
        group.throughput(Throughput::Elements(1));
        group.bench_function("renew, 64 threads, group commit (per renewal)", |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(CONCURRENCY);
                let started = Instant::now();
                std::thread::scope(|s| {
                    for id in &held {
                        let gm = &gm;
                        s.spawn(move || {
                            for _ in 0..per_thread {
                                gm.renew(*id, None).expect("renew");
                            }
                        });
                    }
                });
                // Per renewal: the whole run over the renewals it made.
                started.elapsed() / u32::try_from(per_thread * CONCURRENCY).unwrap_or(u32::MAX)
                    * u32::try_from(iters).unwrap_or(u32::MAX)
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = transactions
}
criterion_main!(benches);
