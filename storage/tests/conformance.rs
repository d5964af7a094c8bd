//! The storage conformance suite against every store. A backend that needs a
//! database server fails when CI=true and the server is missing.

mod suite;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use suite::{Backend, cases};
use tenure_core::UnixMillis;
use tenure_core::manager::ManagerConfig;
use tenure_storage::{Manager, MemoryStore};

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

macro_rules! suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            #[test]
            fn grant_renew_release() {
                cases::grant_renew_release(&$make);
            }
            #[test]
            fn limits_are_enforced_and_named() {
                cases::limits_are_enforced_and_named(&$make);
            }
            #[test]
            fn restart_replaces() {
                cases::restart_replaces(&$make);
            }
            #[test]
            fn revoke_and_admin_release() {
                cases::revoke_and_admin_release(&$make);
            }
            #[test]
            fn reclaim_exactly_at_deadline() {
                cases::reclaim_exactly_at_deadline(&$make);
            }
            #[test]
            fn license_expiry() {
                cases::license_expiry(&$make);
            }
            #[test]
            fn license_install_rules() {
                cases::license_install_rules(&$make);
            }
            #[test]
            fn manager_registry() {
                cases::manager_registry(&$make);
            }
            #[test]
            fn usage_since_filters_and_orders() {
                cases::usage_since_filters_and_orders(&$make);
            }
        }
    };
}

suite!(memory, Memory::new());

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
