//! Shared fixtures of the diesel store tests: throw-away databases on each
//! backend, a license built in Rust, and one grant as a manager would run it.
#![allow(dead_code)]

pub mod faked;

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use tenure_core::license::{License, Limits};
use tenure_core::manager::{Denial, ManagerConfig, grant};
use tenure_core::names::{Hostname, Name};
use tenure_core::wire::{GrantRequest, GrantResponse, HostFacts, Instance, PoolKey};
use tenure_core::{GrantId, UnixMillis};
use tenure_storage::{StorageError, Store};

pub use tenure_testkit::pg_bin;
use tenure_testkit::{Need, mysql_url as mysql_server, postgres_url as pg_server};

/// What a database of `kind` needs; the kit probes it before the test runs.
pub fn needs(kind: Kind) -> &'static [Need] {
    match kind {
        Kind::Sqlite => &[],
        Kind::Postgres => &[Need::Postgres],
        Kind::Mysql => &[MYSQL_BUILT, Need::MariaDb],
    }
}

/// A store built without `mysql` has no MariaDB backend to test.
pub const MYSQL_BUILT: Need = Need::Other("tenure-storage's mysql feature", || {
    if cfg!(feature = "mysql") {
        Ok(())
    } else {
        Err("tenure-storage was built without its `mysql` feature".into())
    }
});

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// Which database a [`TestDb`] lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

/// A fresh database, dropped (or deleted) when this goes out of scope.
#[derive(Debug)]
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    name: String,
    dir: Option<PathBuf>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("tenure-t"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join("tenure.db");
        TestDb {
            kind: Kind::Sqlite,
            url: format!("sqlite://{}", path.display()),
            name: path.display().to_string(),
            dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL database. The server was probed before the test
    /// ran (see [`needs`]), so a failure here is a broken set-up.
    pub fn postgres() -> TestDb {
        let name = unique("tenure_t");
        let admin = format!("{}/postgres", pg_server());
        let made = PgConnection::establish(&admin)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.batch_execute(&format!("CREATE DATABASE {name}"))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = made {
            panic!("create a PostgreSQL database on {}: {e}", pg_server());
        }
        TestDb {
            kind: Kind::Postgres,
            url: format!("{}/{name}", pg_server()),
            name,
            dir: None,
        }
    }

    /// A fresh MariaDB / MySQL database; like [`TestDb::postgres`].
    pub fn mysql() -> TestDb {
        let name = unique("tenure_t");
        let made = MysqlConnection::establish(&mysql_server())
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.batch_execute(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .map_err(|e| e.to_string())
            });
        if let Err(e) = made {
            panic!("create a MariaDB database on {}: {e}", mysql_server());
        }
        TestDb {
            kind: Kind::Mysql,
            url: format!("{}/{name}", mysql_server()),
            name,
            dir: None,
        }
    }

    pub fn of(kind: Kind) -> TestDb {
        match kind {
            Kind::Sqlite => TestDb::sqlite(),
            Kind::Postgres => TestDb::postgres(),
            Kind::Mysql => TestDb::mysql(),
        }
    }

    /// Runs raw SQL on this database outside any store (test set-up only).
    pub fn exec(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let mut c = diesel::SqliteConnection::establish(&self.name).expect("open sqlite");
                c.batch_execute(sql).expect("sqlite exec");
            }
            Kind::Postgres => {
                let mut c = PgConnection::establish(&self.url).expect("open postgres");
                c.batch_execute(sql).expect("postgres exec");
            }
            Kind::Mysql => {
                let mut c = MysqlConnection::establish(&self.url).expect("open mysql");
                c.batch_execute(sql).expect("mysql exec");
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.kind {
            Kind::Sqlite => {
                if let Some(dir) = &self.dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            Kind::Postgres => {
                if let Ok(mut c) = PgConnection::establish(&format!("{}/postgres", pg_server())) {
                    let _ = c.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ));
                }
            }
            Kind::Mysql => {
                if let Ok(mut c) = MysqlConnection::establish(&mysql_server()) {
                    let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
                }
            }
        }
    }
}

pub fn name(s: &str) -> Name {
    Name::parse("test", s).expect("test name")
}

pub fn limits(servers: Option<u64>, per: Option<u64>, total: Option<u64>) -> Limits {
    Limits {
        max_servers: servers,
        max_cores_per_server: per,
        max_total_cores: total,
        extra: BTreeMap::new(),
    }
}

/// A license valid from 1970 to 9999 with `limits` per (environment, product).
pub fn license(pools: &[(&str, &str, Limits)], grace_s: u64) -> License {
    let mut map: BTreeMap<Name, BTreeMap<Name, Limits>> = BTreeMap::new();
    for (env, product, l) in pools {
        map.entry(name(env))
            .or_default()
            .insert(name(product), l.clone());
    }
    License {
        license_id: "lic-storage-test".into(),
        licensee: "Test Co".into(),
        issued_at: UnixMillis(0),
        not_before: UnixMillis(0),
        not_after: UnixMillis(253_402_300_799_000),
        max_managers: 2,
        grace_period_s: grace_s,
        limits: map,
        extra: BTreeMap::new(),
    }
}

pub fn instance(env: &str, product: &str, host: &str, port: u16) -> Instance {
    Instance {
        environment: name(env),
        product: name(product),
        hostname: Hostname::parse(host).expect("test host"),
        port,
    }
}

pub fn request(env: &str, product: &str, host: &str, port: u16, cores: u32) -> GrantRequest {
    GrantRequest {
        instance: instance(env, product, host, port),
        facts: HostFacts {
            cores,
            ip: None,
            version: None,
        },
        client_time: None,
    }
}

pub fn pool(env: &str, product: &str) -> PoolKey {
    PoolKey {
        environment: name(env),
        product: name(product),
    }
}

/// A grant id unique to this process and `n`.
pub fn id(n: u64) -> GrantId {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&std::process::id().to_be_bytes());
    b[8..].copy_from_slice(&n.to_be_bytes());
    GrantId::from_random(b)
}

/// One grant request as a manager runs it: one transaction that reads the
/// storage clock, locks the pool, decides with core, and applies.
pub fn grant_once(
    store: &impl Store,
    license: &License,
    req: &GrantRequest,
    new_id: GrantId,
) -> Result<Result<GrantResponse, Denial>, StorageError> {
    let cfg = ManagerConfig::default();
    store.transaction(&mut |tx| {
        let now = tx.now()?;
        tx.lock_pool(&req.instance.pool())?;
        let view = tx.pool_view(&req.instance, now, 16)?;
        let decision = grant(&cfg, license, &view, req, now, new_id);
        for m in &decision.mutations {
            tx.apply(m)?;
        }
        Ok(decision.outcome)
    })
}
