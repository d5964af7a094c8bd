//! Storage clock steps on every store (M9, T3, I1, I9). A step forward by an
//! hour, as a failover to a standby whose clock runs ahead makes, must not
//! free the slot of a component still in grace, nor refuse the renewal of a
//! grant still within its real deadline; the step shows in the heartbeat,
//! also to a manager that did not see it. A clock set back must not make an
//! expired license valid again. The memory store and SQLite read an injected
//! clock; PostgreSQL and MariaDB run privately under libfaketime.

#[path = "suite/fixtures.rs"]
mod fixtures;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::TestDb;
use support::faked::{Engine, FakedServer};
use tenure_core::UnixMillis;
use tenure_core::health::{LIVENESS, NotServing};
use tenure_core::license::License;
use tenure_core::manager::{Denial, ManagerConfig, RecordedStep};
use tenure_core::wire::GrantRequest;
use tenure_storage::{
    DieselStore, Heartbeat, InstallPolicy, Manager, ManagerError, MemoryStore, MonoClock, Store,
    StoreOptions,
};
use tenure_testkit::trial;
use tenure_testkit::{Need, Unavailable, unavailable};

const HOUR_MS: i64 = 3_600_000;

/// The clocks a case drives: real time passing moves the storage clock and
/// the managers' monotonic clock; a step moves the storage clock alone.
trait Clocks {
    type S: Store;
    /// A store on the case's database (a new connection pool for each
    /// manager, as two manager processes would have).
    fn store(&self) -> Self::S;
    fn mono(&self) -> MonoClock;
    fn wall(&self) -> UnixMillis;
    fn pass(&self, d: Duration);
    fn step_ms(&self, ms: i64);
}

/// Simulated time: nothing waits.
struct Simulated<S> {
    storage: Arc<AtomicI64>,
    mono_ms: Arc<AtomicI64>,
    open: Box<dyn Fn(Arc<AtomicI64>) -> S>,
}

impl<S> Simulated<S> {
    fn new(open: impl Fn(Arc<AtomicI64>) -> S + 'static) -> Self {
        Self {
            storage: Arc::new(AtomicI64::new(1_800_000_000_000)),
            mono_ms: Arc::new(AtomicI64::new(1_000)),
            open: Box::new(open),
        }
    }
}

impl<S: Store> Clocks for Simulated<S> {
    type S = S;
    fn store(&self) -> S {
        (self.open)(self.storage.clone())
    }
    fn mono(&self) -> MonoClock {
        let m = self.mono_ms.clone();
        Arc::new(move || {
            Duration::from_millis(u64::try_from(m.load(Ordering::SeqCst)).unwrap_or(0))
        })
    }
    fn wall(&self) -> UnixMillis {
        UnixMillis(self.storage.load(Ordering::SeqCst))
    }
    fn pass(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).expect("short");
        self.storage.fetch_add(ms, Ordering::SeqCst);
        self.mono_ms.fetch_add(ms, Ordering::SeqCst);
    }
    fn step_ms(&self, ms: i64) {
        self.storage.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A real server under libfaketime: real time passes by waiting.
struct Faked {
    server: FakedServer,
    url: String,
    start: Instant,
    offset_ms: AtomicI64,
}

impl Faked {
    /// A private server under libfaketime; the kit probed what it could
    /// (see [`faked_needs`]), so an `Err` here is a server that would not start.
    fn new(engine: Engine) -> Result<Self, Unavailable> {
        let started = FakedServer::start(engine).and_then(|mut server| {
            let url = server.database()?;
            Ok((server, url))
        });
        match started {
            Ok((server, url)) => {
                let store = DieselStore::connect(&url, StoreOptions::default()).expect("connect");
                store.migrate().expect("migrate");
                Ok(Self {
                    server,
                    url,
                    start: Instant::now(),
                    offset_ms: AtomicI64::new(0),
                })
            }
            Err(e) => Err(unavailable(format!("{engine:?} under libfaketime"), e)),
        }
    }
}

impl Clocks for Faked {
    type S = DieselStore;
    fn store(&self) -> DieselStore {
        DieselStore::connect(&self.url, StoreOptions::default()).expect("connect")
    }
    fn mono(&self) -> MonoClock {
        let start = self.start;
        Arc::new(move || start.elapsed())
    }
    fn wall(&self) -> UnixMillis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        UnixMillis(i64::try_from(ms).expect("fits"))
    }
    fn pass(&self, d: Duration) {
        std::thread::sleep(d);
    }
    fn step_ms(&self, ms: i64) {
        // libfaketime takes whole seconds.
        let total = self.offset_ms.fetch_add(ms, Ordering::SeqCst) + ms;
        self.server
            .set_offset_s(total / 1000)
            .expect("set the server's clock");
    }
}

fn memory() -> Simulated<MemoryStore> {
    let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
    let reader = clock.clone();
    let store = MemoryStore::new(Arc::new(move || UnixMillis(reader.load(Ordering::SeqCst))));
    Simulated {
        storage: clock,
        mono_ms: Arc::new(AtomicI64::new(1_000)),
        open: Box::new(move |_| store.clone()),
    }
}

fn sqlite() -> (TestDb, Simulated<DieselStore>) {
    let db = TestDb::sqlite();
    let url = db.url.clone();
    DieselStore::connect(&url, StoreOptions::default())
        .expect("connect")
        .migrate()
        .expect("migrate");
    let clocks = Simulated::new(move |clock: Arc<AtomicI64>| {
        DieselStore::connect(&url, StoreOptions::default())
            .expect("connect")
            .with_local_clock(Arc::new(move || UnixMillis(clock.load(Ordering::SeqCst))))
    });
    (db, clocks)
}

fn config() -> ManagerConfig {
    ManagerConfig {
        lease_ttl: Duration::from_secs(2),
        renew_every: Duration::from_secs(1),
        // Small, so that the step alone would pass a deadline.
        reclaim_margin: Duration::from_secs(1),
    }
}

fn manager<C: Clocks>(c: &C, nonce: &str) -> Manager<C::S> {
    Manager::new(c.store(), config(), fixtures::trusted())
        .with_monotonic(c.mono())
        .with_instance(nonce)
}

fn heartbeat<C: Clocks>(c: &C, m: &Manager<C::S>, node: &str) -> Heartbeat {
    m.heartbeat(node, &|| c.wall(), LIVENESS)
        .expect("heartbeat")
}

/// A license of `grace_s` for a pool of two servers, valid until `not_after`.
fn install<S: Store>(m: &Manager<S>, grace_s: u64, valid_for_ms: i64) -> License {
    install_for(m, grace_s, valid_for_ms, 2)
}

fn install_for<S: Store>(
    m: &Manager<S>,
    grace_s: u64,
    valid_for_ms: i64,
    max_managers: u32,
) -> License {
    let now = m.read(|_, now| Ok(now)).expect("storage clock");
    let lic = fixtures::license(
        "clock-steps",
        UnixMillis(now.0 - 1000),
        now,
        UnixMillis(now.0 + valid_for_ms),
        grace_s,
        max_managers,
        &[("production", "vdp", fixtures::limits(Some(2), None, None))],
    );
    m.install_license(&fixtures::signed(&lic), InstallPolicy::IfNewer)
        .expect("install");
    lic
}

fn host(h: &str) -> GrantRequest {
    fixtures::request("vdp", h, 9000, 2)
}

fn random(n: u8) -> [u8; 16] {
    let mut b = [n; 16];
    b[..4].copy_from_slice(&std::process::id().to_be_bytes());
    b
}

fn last_step(hb: &Heartbeat) -> RecordedStep {
    hb.clock
        .recorded
        .last
        .clone()
        .unwrap_or_else(|| panic!("the step is not recorded: {:?}", hb.clock))
}

fn refused_full(r: Result<tenure_core::wire::GrantResponse, ManagerError>, who: &str) {
    match r {
        Err(ManagerError::Denied(Denial::ServersExceeded { held: 2, .. })) => {}
        other => panic!(
            "{who}: the pool is full (one slot held by a component in grace) and must refuse, got {other:?}"
        ),
    }
}

/// Which transaction is the first after the step: each judges deadlines.
#[derive(Debug, Clone, Copy)]
enum First {
    Grant,
    Sweep,
    Heartbeat,
}

fn forward_step_keeps_slots_in_grace<C: Clocks>(c: &C, first: First) {
    let m1 = manager(c, "m1-process");
    install(&m1, 3600, 30 * 24 * HOUR_MS);
    assert!(heartbeat(c, &m1, "m1").serving.is_ok());
    let a = m1.grant(&host("a"), random(1)).expect("grant a");
    let b = m1.grant(&host("b"), random(2)).expect("grant b");
    // b's component goes quiet: in grace from here, for an hour.
    c.pass(Duration::from_secs(2));
    m1.renew(a.grant_id, None).expect("renew a");
    c.step_ms(HOUR_MS);

    match first {
        First::Grant => refused_full(
            m1.grant(&host("c"), random(3)),
            "first grant after the step",
        ),
        First::Sweep => assert_eq!(m1.sweep(100).expect("sweep"), 0, "the sweep ended a grant"),
        First::Heartbeat => {
            let hb = heartbeat(c, &m1, "m1");
            assert!(hb.serving.is_ok(), "{:?}", hb.serving);
        }
    }
    refused_full(m1.grant(&host("c"), random(4)), "grant after the step");
    m1.renew(a.grant_id, None)
        .expect("a renewal of a held grant goes on after the step");
    assert_eq!(m1.sweep(100).expect("sweep"), 0, "the sweep ended a grant");

    let hb = heartbeat(c, &m1, "m1");
    assert!(hb.serving.is_ok(), "{:?}", hb.serving);
    assert_eq!(hb.clock.recorded.count, 1, "{:?}", hb.clock);
    assert_eq!(hb.clock.seen, 1, "{:?}", hb.clock);
    let last = last_step(&hb);
    assert!(last.node_id.starts_with("m1 ("), "{last:?}");
    assert!(
        (HOUR_MS - 2_000..=HOUR_MS).contains(&last.step.size_ms),
        "{last:?}"
    );
    assert_eq!(hb.clock.correction_ms, last.step.size_ms, "{:?}", hb.clock);

    // A manager that did not see the step (started after it) honours it.
    let m2 = manager(c, "m2-process");
    refused_full(
        m2.grant(&host("d"), random(5)),
        "a manager started after the step",
    );
    assert_eq!(m2.sweep(100).expect("sweep"), 0);
    let hb2 = heartbeat(c, &m2, "m2");
    assert_eq!(hb2.clock.recorded.count, 1, "{:?}", hb2.clock);
    assert_eq!(hb2.clock.seen, 0, "m2 did not see it itself");
    assert_eq!(hb2.clock.correction_ms, last.step.size_ms);

    // The component in grace comes back: its grant is still its own (I9).
    m2.renew(b.grant_id, None)
        .expect("the renewal of a grant in grace goes on after the step");
}

fn clock_set_back_keeps_an_expired_license_expired<C: Clocks>(c: &C) {
    let m1 = manager(c, "m1-process");
    install(&m1, 3600, 3_000);
    assert!(heartbeat(c, &m1, "m1").serving.is_ok());
    c.pass(Duration::from_secs(4));
    let hb = heartbeat(c, &m1, "m1");
    assert_eq!(hb.serving, Err(NotServing::LicenseExpired));
    c.step_ms(-2 * HOUR_MS);
    let hb = heartbeat(c, &m1, "m1");
    assert_eq!(
        hb.serving,
        Err(NotServing::LicenseExpired),
        "a clock set back made the expired license valid again"
    );
    let last = last_step(&hb);
    assert!(last.step.size_ms < -HOUR_MS, "{last:?}");
    assert_eq!(
        hb.clock.correction_ms, 0,
        "a step back never shortens a deadline"
    );
    match m1.grant(&host("a"), random(1)) {
        Err(ManagerError::Denied(Denial::LicenseExpired { .. })) => {}
        other => panic!("a grant after the clock went back: {other:?}"),
    }
    // A manager started after the clock went back finds it below the mark,
    // and the step m1 recorded explains it: not recorded a second time.
    let m2 = manager(c, "m2-process");
    let hb2 = heartbeat(c, &m2, "m2");
    assert_eq!(hb2.serving, Err(NotServing::LicenseExpired));
    assert_eq!(hb2.clock.seen, 0, "{:?}", hb2.clock);
    assert_eq!(hb2.clock.recorded.count, 1, "{:?}", hb2.clock);
    // Set back again while no manager of it runs: a new process finds the
    // step no one recorded.
    c.step_ms(-2 * HOUR_MS);
    let m3 = manager(c, "m3-process");
    let hb3 = heartbeat(c, &m3, "m3");
    assert_eq!(hb3.serving, Err(NotServing::LicenseExpired));
    assert_eq!(hb3.clock.seen, 1, "{:?}", hb3.clock);
}

/// The database fails over to a host whose clock is 12 hours behind, and
/// the serving manager lost the database before it: its registry row,
/// stamped ahead of the new clock, stops counting once the backup has seen
/// it unchanged for the liveness window of its own monotonic time, and the
/// backup serves (M6, M9, I4), not 12 hours later. It fails closed meanwhile.
fn a_dead_peer_stamped_before_a_step_back_stops_counting<C: Clocks>(c: &C) {
    let m1 = manager(c, "m1-process");
    let m2 = manager(c, "m2-process");
    install_for(&m1, 3600, 30 * 24 * HOUR_MS, 1);
    assert!(heartbeat(c, &m1, "m1").serving.is_ok());
    assert!(matches!(
        heartbeat(c, &m2, "m2").serving,
        Err(NotServing::TooManyManagers { .. })
    ));
    c.step_ms(-12 * HOUR_MS);
    for _ in 0..2 {
        assert!(
            matches!(
                heartbeat(c, &m2, "m2").serving,
                Err(NotServing::TooManyManagers { .. })
            ),
            "the peer's row may still be live"
        );
        c.pass(Duration::from_secs(4));
    }
    c.pass(Duration::from_secs(3));
    let hb = heartbeat(c, &m2, "m2");
    assert_eq!(hb.serving, Ok(()), "{:?}", hb.managers);
}

/// Two processes given one node id (M6) both watch the storage clock: a
/// step is recorded once, and the deadlines are held back by it once.
fn one_step_seen_by_two_processes_of_one_node_id<C: Clocks>(c: &C) {
    let first = manager(c, "first-process");
    let second = manager(c, "second-process");
    install(&first, 3600, 30 * 24 * HOUR_MS);
    assert!(heartbeat(c, &first, "m1").serving.is_ok());
    assert!(matches!(
        heartbeat(c, &second, "m1").serving,
        Err(NotServing::DuplicateNodeId { .. })
    ));
    c.step_ms(HOUR_MS);
    heartbeat(c, &first, "m1");
    let hb = heartbeat(c, &second, "m1");
    assert_eq!(hb.clock.recorded.count, 1, "{:?}", hb.clock);
    assert!(
        hb.clock.correction_ms < HOUR_MS + 5_000,
        "held back twice: {:?}",
        hb.clock
    );
    assert!(last_step(&hb).node_id.starts_with("m1 ("), "{:?}", hb.clock);
}

/// A forward step's correction window that has closed stays closed when the
/// clock later goes back past its end: it is moved back with the clock, so
/// it ends at the same real instant and never holds deadlines back again.
fn a_closed_forward_window_stays_closed_after_a_step_back<C: Clocks>(c: &C) {
    let m1 = manager(c, "m1-process");
    install(&m1, 3600, 30 * 24 * HOUR_MS);
    assert!(heartbeat(c, &m1, "m1").serving.is_ok());
    c.step_ms(10_000);
    let hb = heartbeat(c, &m1, "m1");
    assert!(hb.clock.correction_ms > 5_000, "{:?}", hb.clock);
    c.pass(Duration::from_secs(11));
    assert_eq!(heartbeat(c, &m1, "m1").clock.correction_ms, 0);
    c.step_ms(-HOUR_MS);
    let hb = heartbeat(c, &m1, "m1");
    assert!(
        last_step(&hb).step.size_ms < -HOUR_MS + 5_000,
        "{:?}",
        hb.clock
    );
    assert_eq!(
        hb.clock.correction_ms, 0,
        "a window closed before the step back opened again: {:?}",
        hb.clock
    );
}

/// The clock goes back an hour, then forward again, while one manager
/// does not look: what the other recorded of the first step shows it the
/// second. Grants made in between carry deadlines on the clock an hour
/// behind, and stay held.
fn back_and_forth_unseen_by_one_manager<C: Clocks>(c: &C) {
    let m1 = manager(c, "m1-process");
    let m2 = manager(c, "m2-process");
    install(&m1, 3600, 30 * 24 * HOUR_MS);
    assert!(heartbeat(c, &m1, "m1").serving.is_ok());
    assert!(heartbeat(c, &m2, "m2").serving.is_ok());
    c.step_ms(-HOUR_MS);
    let a = m1.grant(&host("a"), random(1)).expect("grant a");
    m1.grant(&host("b"), random(2)).expect("grant b");
    c.pass(Duration::from_secs(2));
    c.step_ms(HOUR_MS);
    refused_full(
        m2.grant(&host("c"), random(3)),
        "a manager that saw neither step",
    );
    assert_eq!(m2.sweep(100).expect("sweep"), 0, "the sweep ended a grant");
    m1.renew(a.grant_id, None)
        .expect("a renewal after the clock came back");
    let hb = heartbeat(c, &m1, "m1");
    assert_eq!(
        hb.clock.recorded.count, 2,
        "each step recorded once: {:?}",
        hb.clock
    );
    assert!(
        last_step(&hb).step.size_ms > HOUR_MS - 5_000,
        "{:?}",
        hb.clock
    );
}

/// A process met a forward step unseen at its start and then hung; its peer
/// recorded that step only afterwards, and then a second one. Back from the
/// hang, the process finds its clock moved by the second step alone over
/// its gap: the first came before its previous read, and it records
/// nothing, least of all a step back that no clock made.
fn steps_recorded_while_a_process_hung<C: Clocks>(c: &C) {
    const MIN_MS: i64 = 60_000;
    let peer = manager(c, "peer-process");
    install(&peer, 3600, 30 * 24 * HOUR_MS);
    assert!(heartbeat(c, &peer, "peer").serving.is_ok());
    c.pass(Duration::from_secs(2));
    c.step_ms(10 * MIN_MS);
    c.pass(Duration::from_secs(2));
    let hung = manager(c, "hung-process");
    assert_eq!(heartbeat(c, &hung, "hung").clock.recorded.count, 0);
    c.pass(Duration::from_secs(2));
    assert_eq!(heartbeat(c, &peer, "peer").clock.recorded.count, 1);
    c.step_ms(100 * MIN_MS);
    c.pass(Duration::from_secs(2));
    let hb = heartbeat(c, &peer, "peer");
    assert_eq!(hb.clock.recorded.count, 2, "{:?}", hb.clock);
    c.pass(Duration::from_secs(2));
    let hb = heartbeat(c, &hung, "hung");
    assert_eq!(hb.clock.recorded.count, 2, "{:?}", hb.clock);
    assert!(
        last_step(&hb).step.size_ms > 100 * MIN_MS - 5_000,
        "{:?}",
        hb.clock
    );
}

fn forward_step_memory() {
    for first in [First::Grant, First::Sweep, First::Heartbeat] {
        forward_step_keeps_slots_in_grace(&memory(), first);
    }
}

fn forward_step_sqlite() {
    for first in [First::Grant, First::Sweep, First::Heartbeat] {
        let (_db, clocks) = sqlite();
        forward_step_keeps_slots_in_grace(&clocks, first);
    }
}

/// Each case on its own server: a step back to real time between them
/// would be one more step for the managers of the next.
fn forward_step_faked(engine: Engine) -> Result<(), Unavailable> {
    for first in [First::Grant, First::Sweep] {
        forward_step_keeps_slots_in_grace(&Faked::new(engine)?, first);
    }
    Ok(())
}

fn forward_step_postgres() -> Result<(), Unavailable> {
    forward_step_faked(Engine::Postgres)
}

fn forward_step_mariadb() -> Result<(), Unavailable> {
    forward_step_faked(Engine::MariaDb)
}

/// The four trials of `case`: on the memory store, SQLite, and PostgreSQL
/// and MariaDB servers under libfaketime, each on a server of its own.
macro_rules! on_every_store {
    ($name:literal, $case:path) => {
        [
            trial(concat!($name, "_memory"), &[], || $case(&memory())),
            trial(concat!($name, "_sqlite"), &[], || {
                let (_db, clocks) = sqlite();
                $case(&clocks)
            }),
            trial(
                concat!($name, "_postgres"),
                faked_needs(Engine::Postgres),
                || -> Result<(), Unavailable> {
                    $case(&Faked::new(Engine::Postgres)?);
                    Ok(())
                },
            ),
            trial(
                concat!($name, "_mariadb"),
                faked_needs(Engine::MariaDb),
                || -> Result<(), Unavailable> {
                    $case(&Faked::new(Engine::MariaDb)?);
                    Ok(())
                },
            ),
        ]
    };
}

fn faked_needs(engine: Engine) -> &'static [Need] {
    match engine {
        Engine::Postgres => &[Need::LibFaketime, Need::PgServerBinaries],
        Engine::MariaDb => &[
            support::MYSQL_BUILT,
            Need::LibFaketime,
            Need::Program("mariadb-install-db"),
        ],
    }
}

fn main() -> std::process::ExitCode {
    let mut trials = vec![
        trial("forward_step_memory", &[], forward_step_memory),
        trial("forward_step_sqlite", &[], forward_step_sqlite),
        trial(
            "forward_step_postgres",
            faked_needs(Engine::Postgres),
            forward_step_postgres,
        ),
        trial(
            "forward_step_mariadb",
            faked_needs(Engine::MariaDb),
            forward_step_mariadb,
        ),
    ];
    trials.extend(on_every_store!(
        "back_and_forth",
        back_and_forth_unseen_by_one_manager
    ));
    trials.extend(on_every_store!(
        "set_back",
        clock_set_back_keeps_an_expired_license_expired
    ));
    trials.extend(on_every_store!(
        "dead_peer_after_step_back",
        a_dead_peer_stamped_before_a_step_back_stops_counting
    ));
    trials.extend(on_every_store!(
        "forward_window_after_step_back",
        a_closed_forward_window_stays_closed_after_a_step_back
    ));
    trials.extend(on_every_store!(
        "two_processes_one_node_id",
        one_step_seen_by_two_processes_of_one_node_id
    ));
    trials.extend(on_every_store!(
        "hung_process",
        steps_recorded_while_a_process_hung
    ));
    tenure_testkit::run(trials)
}
