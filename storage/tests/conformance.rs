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
    fn new(kind: support::Kind) -> Option<Self> {
        let db = support::TestDb::of(kind)?;
        let store = DieselStore::connect(&db.url, StoreOptions::default()).expect("connect");
        store.migrate().expect("migrate");
        Some(Self { db })
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
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            #[test]
            fn grant_renew_release() {
                if let Some(b) = $make {
                    cases::grant_renew_release(&b);
                }
            }
            #[test]
            fn limits_are_enforced_and_named() {
                if let Some(b) = $make {
                    cases::limits_are_enforced_and_named(&b);
                }
            }
            #[test]
            fn restart_replaces() {
                if let Some(b) = $make {
                    cases::restart_replaces(&b);
                }
            }
            #[test]
            fn twins_older_hears_replaced() {
                if let Some(b) = $make {
                    cases::twins_older_hears_replaced(&b);
                }
            }
            #[test]
            fn license_not_yet_valid_keeps_grants() {
                if let Some(b) = $make {
                    cases::license_not_yet_valid_keeps_grants(&b);
                }
            }
            #[test]
            fn listing_pages_cover_the_held_grants() {
                if let Some(b) = $make {
                    cases::listing_pages_cover_the_held_grants(&b);
                }
            }
            #[test]
            fn revoke_and_admin_release() {
                if let Some(b) = $make {
                    cases::revoke_and_admin_release(&b);
                }
            }
            #[test]
            fn renewals_racing_reclaims_never_over_use() {
                if let Some(b) = $make {
                    cases::renewals_racing_reclaims_never_over_use(&b);
                }
            }
            #[test]
            fn reclaim_exactly_at_deadline() {
                if let Some(b) = $make {
                    cases::reclaim_exactly_at_deadline(&b);
                }
            }
            #[test]
            fn license_expiry() {
                if let Some(b) = $make {
                    cases::license_expiry(&b);
                }
            }
            #[test]
            fn license_install_rules() {
                if let Some(b) = $make {
                    cases::license_install_rules(&b);
                }
            }
            #[test]
            fn manager_registry() {
                if let Some(b) = $make {
                    cases::manager_registry(&b);
                }
            }
            #[test]
            fn audit_actions_leave_their_rows() {
                if let Some(b) = $make {
                    suite::audit::actions_leave_their_rows(&b);
                }
            }
            #[test]
            fn audit_rolled_back_rows_vanish() {
                if let Some(b) = $make {
                    suite::audit::rolled_back_rows_vanish(&b);
                }
            }
            #[test]
            fn audit_pages_follow_the_cursor_and_prune_in_batches() {
                if let Some(b) = $make {
                    suite::audit::pages_follow_the_cursor_and_prune_in_batches(&b);
                }
            }
            #[test]
            fn usage_reports_roll_up_and_prune() {
                if let Some(b) = $make {
                    suite::reports::usage_reports_roll_up_and_prune(&b);
                }
            }
            #[test]
            fn usage_since_filters_and_orders() {
                if let Some(b) = $make {
                    cases::usage_since_filters_and_orders(&b);
                }
            }
        }
    };
}

suite!(memory, Some(Memory::new()));
suite!(sqlite, Db::new(support::Kind::Sqlite));
suite!(postgres, Db::new(support::Kind::Postgres));
suite!(mysql, Db::new(support::Kind::Mysql));

#[test]
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
#[test]
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
