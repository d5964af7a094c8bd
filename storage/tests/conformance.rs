//! The storage conformance suite against every store. A backend that needs a
//! database server fails when CI=true and the server is missing.

mod suite;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use suite::{Backend, cases};
use tenure_core::UnixMillis;
use tenure_core::manager::ManagerConfig;
use tenure_storage::{DieselStore, InstallPolicy, Manager, MemoryStore, StoreOptions};
use tenure_testkit::trial;

struct Memory {
    clock: Arc<AtomicI64>,
    store: MemoryStore,
}

impl Memory {
    fn new() -> Self {
        let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
        let c = clock.clone();
        let store = MemoryStore::new(Arc::new(move || UnixMillis(c.load(Ordering::SeqCst))));
        Self { clock, store }
    }
}

impl Backend for Memory {
    type S = MemoryStore;
    fn manager(&self, config: ManagerConfig) -> Manager<MemoryStore> {
        Manager::new(self.store.clone(), config, suite::fixtures::trusted())
    }
    fn advance(&self, d: Duration) {
        self.clock.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
}

/// A real database: every manager gets its own connection pool, as two
/// manager processes would; time passes by waiting on the database clock.
struct Db {
    db: support::TestDb,
}

impl Db {
    fn new(kind: support::Kind) -> Self {
        let db = support::TestDb::of(kind);
        let store = DieselStore::connect(&db.url, StoreOptions::default()).expect("connect");
        store.migrate().expect("migrate");
        Self { db }
    }
}

impl Backend for Db {
    type S = DieselStore;
    fn manager(&self, config: ManagerConfig) -> Manager<DieselStore> {
        let store = DieselStore::connect(&self.db.url, StoreOptions::default()).expect("connect");
        Manager::new(store, config, suite::fixtures::trusted())
    }
    fn advance(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

macro_rules! suite {
    ($backend:ident, $needs:expr, $make:expr) => {
        mod $backend {
            use super::*;
            fn grant_renew_release() {
                cases::grant_renew_release(&$make);
            }
            fn limits_are_enforced_and_named() {
                cases::limits_are_enforced_and_named(&$make);
            }
            fn restart_replaces() {
                cases::restart_replaces(&$make);
            }
            fn twins_older_hears_replaced() {
                cases::twins_older_hears_replaced(&$make);
            }
            fn license_not_yet_valid_keeps_grants() {
                cases::license_not_yet_valid_keeps_grants(&$make);
            }
            fn listing_pages_cover_the_held_grants() {
                cases::listing_pages_cover_the_held_grants(&$make);
            }
            fn revoke_and_admin_release() {
                cases::revoke_and_admin_release(&$make);
            }
            fn renewals_racing_reclaims_never_over_use() {
                cases::renewals_racing_reclaims_never_over_use(&$make);
            }
            fn reclaim_exactly_at_deadline() {
                cases::reclaim_exactly_at_deadline(&$make);
            }
            fn license_expiry() {
                cases::license_expiry(&$make);
            }
            fn license_install_rules() {
                cases::license_install_rules(&$make);
            }
            fn manager_registry() {
                cases::manager_registry(&$make);
            }
            fn audit_actions_leave_their_rows() {
                suite::audit::actions_leave_their_rows(&$make);
            }
            fn audit_rolled_back_rows_vanish() {
                suite::audit::rolled_back_rows_vanish(&$make);
            }
            fn audit_pages_follow_the_cursor_and_prune_in_batches() {
                suite::audit::pages_follow_the_cursor_and_prune_in_batches(&$make);
            }
            fn usage_reports_roll_up_and_prune() {
                suite::reports::usage_reports_roll_up_and_prune(&$make);
            }
            fn a_day_rolled_up_twice_is_our_fault() {
                suite::reports::a_day_rolled_up_twice_is_our_fault(&$make);
            }
            fn usage_since_filters_and_orders() {
                cases::usage_since_filters_and_orders(&$make);
            }

            pub fn trials() -> Vec<tenure_testkit::Pending> {
                // libtest's names for the cases of a module, kept for filters.
                let name = |case: &str| format!("{}::{case}", stringify!($backend));
                vec![
                    trial(name("grant_renew_release"), $needs, grant_renew_release),
                    trial(
                        name("limits_are_enforced_and_named"),
                        $needs,
                        limits_are_enforced_and_named,
                    ),
                    trial(name("restart_replaces"), $needs, restart_replaces),
                    trial(
                        name("twins_older_hears_replaced"),
                        $needs,
                        twins_older_hears_replaced,
                    ),
                    trial(
                        name("license_not_yet_valid_keeps_grants"),
                        $needs,
                        license_not_yet_valid_keeps_grants,
                    ),
                    trial(
                        name("listing_pages_cover_the_held_grants"),
                        $needs,
                        listing_pages_cover_the_held_grants,
                    ),
                    trial(
                        name("revoke_and_admin_release"),
                        $needs,
                        revoke_and_admin_release,
                    ),
                    trial(
                        name("renewals_racing_reclaims_never_over_use"),
                        $needs,
                        renewals_racing_reclaims_never_over_use,
                    ),
                    trial(
                        name("reclaim_exactly_at_deadline"),
                        $needs,
                        reclaim_exactly_at_deadline,
                    ),
                    trial(name("license_expiry"), $needs, license_expiry),
                    trial(name("license_install_rules"), $needs, license_install_rules),
                    trial(name("manager_registry"), $needs, manager_registry),
                    trial(
                        name("audit_actions_leave_their_rows"),
                        $needs,
                        audit_actions_leave_their_rows,
                    ),
                    trial(
                        name("audit_rolled_back_rows_vanish"),
                        $needs,
                        audit_rolled_back_rows_vanish,
                    ),
                    trial(
                        name("audit_pages_follow_the_cursor_and_prune_in_batches"),
                        $needs,
                        audit_pages_follow_the_cursor_and_prune_in_batches,
                    ),
                    trial(
                        name("usage_reports_roll_up_and_prune"),
                        $needs,
                        usage_reports_roll_up_and_prune,
                    ),
                    trial(
                        name("a_day_rolled_up_twice_is_our_fault"),
                        $needs,
                        a_day_rolled_up_twice_is_our_fault,
                    ),
                    trial(
                        name("usage_since_filters_and_orders"),
                        $needs,
                        usage_since_filters_and_orders,
                    ),
                ]
            }
        }
    };
}

suite!(memory, &[], Memory::new());
suite!(sqlite, &[], Db::new(support::Kind::Sqlite));
suite!(
    postgres,
    support::needs(support::Kind::Postgres),
    Db::new(support::Kind::Postgres)
);
suite!(
    mysql,
    support::needs(support::Kind::Mysql),
    Db::new(support::Kind::Mysql)
);

fn memory_outage_is_a_typed_retryable_error() {
    let b = Memory::new();
    let m = b.manager(ManagerConfig::default());
    b.store.set_available(false);
    let e = m.license().expect_err("down");
    assert_eq!(e.code(), tenure_core::ErrorCode::StorageUnavailable);
    b.store.set_available(true);
    assert_eq!(
        m.license().expect_err("no license yet").code(),
        tenure_core::ErrorCode::StorageUnavailable
    );
}

/// M7 by the storage clock itself: the clock set back before the license's
/// `not_before` refuses, keeps held grants, and serves again once it is
/// past it.
fn memory_clock_set_back_before_not_before() {
    let b = Memory::new();
    let m = b.manager(ManagerConfig::default());
    let t = UnixMillis(b.clock.load(Ordering::SeqCst));
    let lic = suite::fixtures::license(
        "lic-1",
        t,
        t,
        UnixMillis(t.0 + 30 * 86_400_000),
        432_000,
        1,
        &[(
            "production",
            "vdp",
            suite::fixtures::limits(None, None, None),
        )],
    );
    m.install_license(&suite::fixtures::signed(&lic), InstallPolicy::Replace)
        .expect("install");
    let g = m
        .grant(&suite::fixtures::request("vdp", "a", 1, 1), [7; 16])
        .expect("grant");
    // One day and a second back: before `not_before`.
    b.clock.fetch_sub(86_401_000, Ordering::SeqCst);
    let e = m.renew(g.grant_id, None).expect_err("not yet valid");
    assert_eq!(e.code(), tenure_core::ErrorCode::LicenseNotYetValid);
    let held = m.read(|tx, _| tx.held_grants()).expect("held");
    assert_eq!(held.len(), 1, "kept");
    b.clock.fetch_add(86_401_000, Ordering::SeqCst);
    m.renew(g.grant_id, None).expect("renews again");
    assert!(
        m.read(|tx, _| tx.usage_since(UnixMillis(0), 10))
            .expect("usage")
            .is_empty()
    );
}

fn main() -> std::process::ExitCode {
    let mut trials = vec![
        trial(
            "memory_outage_is_a_typed_retryable_error",
            &[],
            memory_outage_is_a_typed_retryable_error,
        ),
        trial(
            "memory_clock_set_back_before_not_before",
            &[],
            memory_clock_set_back_before_not_before,
        ),
    ];
    trials.extend(memory::trials());
    trials.extend(sqlite::trials());
    trials.extend(postgres::trials());
    trials.extend(mysql::trials());
    tenure_testkit::run(trials)
}
