//! The managers registry on every store (M6, I7): two processes with one
//! node id never both serve, and managers whose first heartbeats race never
//! serve beyond `max_managers` together.

#[path = "suite/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use support::{Kind, TestDb};
use tenure_core::UnixMillis;
use tenure_core::health::NotServing;
use tenure_core::manager::ManagerConfig;
use tenure_storage::{DieselStore, InstallPolicy, Manager, MemoryStore, Store, StoreOptions};
use tenure_testkit::trial;

/// A store per manager on one database, and a way to let time pass on it.
trait Shared {
    type S: Store + 'static;
    fn store(&self) -> Self::S;
    fn pass(&self, d: Duration);
}

struct Memory {
    clock: Arc<AtomicI64>,
    store: MemoryStore,
}

impl Shared for Memory {
    type S = MemoryStore;
    fn store(&self) -> MemoryStore {
        self.store.clone()
    }
    fn pass(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).expect("short");
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

fn memory() -> Memory {
    let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
    let c = clock.clone();
    Memory {
        clock,
        store: MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst)))),
    }
}

impl Shared for TestDb {
    type S = DieselStore;
    fn store(&self) -> DieselStore {
        DieselStore::connect(&self.url, StoreOptions::default()).expect("connect")
    }
    fn pass(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

fn db(kind: Kind) -> TestDb {
    let db = TestDb::of(kind);
    db.store().migrate().expect("migrate");
    db
}

fn manager<D: Shared>(d: &D, nonce: &str) -> Manager<D::S> {
    Manager::new(d.store(), ManagerConfig::default(), fixtures::trusted()).with_instance(nonce)
}

fn install<D: Shared>(d: &D, max_managers: u32) {
    let m = manager(d, "installer");
    let now = m.read(|_, now| Ok(now)).expect("clock");
    let lic = fixtures::license(
        "registry",
        UnixMillis(now.0 - 1000),
        now,
        UnixMillis(now.0 + 86_400_000),
        3600,
        max_managers,
        &[("production", "vdp", fixtures::limits(Some(2), None, None))],
    );
    m.install_license(&fixtures::signed(&lic), InstallPolicy::IfNewer)
        .expect("install");
}

/// Short enough that a real database need not be waited on for long.
const LIVENESS: Duration = Duration::from_millis(1500);

fn one_node_id_two_processes<D: Shared>(d: &D) {
    install(d, 2);
    let first = manager(d, "process-1");
    let second = manager(d, "process-2");
    let clock = || UnixMillis(0);
    let hb = first.heartbeat("node", &clock, LIVENESS).expect("first");
    assert_eq!(hb.serving, Ok(()));
    let dup = second.heartbeat("node", &clock, LIVENESS).expect("second");
    match &dup.serving {
        Err(e @ NotServing::DuplicateNodeId { node_id, .. }) => {
            assert_eq!(node_id, "node");
            assert_eq!(e.code(), tenure_core::ErrorCode::TooManyManagers);
            assert!(e.to_string().contains("--node-id"), "{e}");
        }
        other => panic!("a second process with a live node id serves: {other:?}"),
    }
    // The first keeps its row and its place.
    assert_eq!(
        first
            .heartbeat("node", &clock, LIVENESS)
            .expect("first")
            .serving,
        Ok(())
    );
    assert!(
        second
            .heartbeat("node", &clock, LIVENESS)
            .expect("second")
            .serving
            .is_err()
    );
    // Once the first is dead the second takes the node id; the first,
    // coming back, is now the duplicate.
    d.pass(LIVENESS + Duration::from_millis(200));
    assert_eq!(
        second
            .heartbeat("node", &clock, LIVENESS)
            .expect("second")
            .serving,
        Ok(())
    );
    assert!(matches!(
        first
            .heartbeat("node", &clock, LIVENESS)
            .expect("first")
            .serving,
        Err(NotServing::DuplicateNodeId { .. })
    ));
}

/// `n` managers with distinct node ids heartbeat for the first time at one
/// instant, `rounds` times on fresh databases: never more than one serves.
fn racing_first_heartbeats<D: Shared>(make: impl Fn() -> D, n: usize, rounds: usize) {
    for round in 0..rounds {
        let d = make();
        install(&d, 1);
        let managers: Vec<Arc<Manager<D::S>>> = (0..n)
            .map(|i| Arc::new(manager(&d, &format!("process-{i}"))))
            .collect();
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = managers
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (m, barrier) = (m.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    m.heartbeat(&format!("node-{i}"), &|| UnixMillis(0), LIVENESS)
                        .map(|hb| hb.serving.is_ok())
                })
            })
            .collect();
        let serving: Vec<bool> = threads
            .into_iter()
            .map(|t| t.join().expect("thread").expect("heartbeat"))
            .collect();
        let count = serving.iter().filter(|s| **s).count();
        assert_eq!(
            count, 1,
            "round {round}: {count} of {n} managers serve with max_managers = 1: {serving:?}"
        );
    }
}

fn one_node_id_memory() {
    one_node_id_two_processes(&memory());
}

fn one_node_id_sqlite() {
    one_node_id_two_processes(&db(Kind::Sqlite));
}

fn one_node_id_postgres() {
    one_node_id_two_processes(&db(Kind::Postgres));
}

fn one_node_id_mariadb() {
    one_node_id_two_processes(&db(Kind::Mysql));
}

fn racing_heartbeats_memory() {
    racing_first_heartbeats(memory, 4, 20);
}

fn racing_heartbeats_sqlite() {
    racing_first_heartbeats(|| db(Kind::Sqlite), 4, 10);
}

fn racing_heartbeats_postgres() {
    racing_first_heartbeats(|| db(Kind::Postgres), 4, 10);
}

fn racing_heartbeats_mariadb() {
    racing_first_heartbeats(|| db(Kind::Mysql), 4, 10);
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial("one_node_id_memory", &[], one_node_id_memory),
        trial("one_node_id_sqlite", &[], one_node_id_sqlite),
        trial(
            "one_node_id_postgres",
            support::needs(Kind::Postgres),
            one_node_id_postgres,
        ),
        trial(
            "one_node_id_mariadb",
            support::needs(Kind::Mysql),
            one_node_id_mariadb,
        ),
        trial("racing_heartbeats_memory", &[], racing_heartbeats_memory),
        trial("racing_heartbeats_sqlite", &[], racing_heartbeats_sqlite),
        trial(
            "racing_heartbeats_postgres",
            support::needs(Kind::Postgres),
            racing_heartbeats_postgres,
        ),
        trial(
            "racing_heartbeats_mariadb",
            support::needs(Kind::Mysql),
            racing_heartbeats_mariadb,
        ),
    ])
}
