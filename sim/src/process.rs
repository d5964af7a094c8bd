//! A manager process as the frontends start one: a fresh `Manager` over the
//! shared store, watching the storage clock on its host's monotonic clock
//! (M9), registered under a random nonce of its own (M6). A restart is a new
//! process: the watch and the nonce start over.

use crate::store::SimStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tenure_core::license::VerifyingKey;
use tenure_core::manager::ManagerConfig;
use tenure_storage::Manager;

/// What every manager process is started with.
#[derive(Debug, Clone)]
pub struct Launch {
    pub config: ManagerConfig,
    pub vendor: VerifyingKey,
    /// True time: the managers' monotonic clocks.
    pub true_now: Arc<AtomicU64>,
    /// Planted bug: processes register without a nonce, so two processes
    /// given one node id both count as the same one (M6).
    pub without_nonce: bool,
}

impl Launch {
    /// A new process over `store`, registered under `nonce` (each process
    /// its own).
    pub fn start(&self, store: &SimStore, nonce: &str) -> Manager<SimStore> {
        let mono_now = self.true_now.clone();
        let manager = Manager::new(store.clone(), self.config, vec![self.vendor]).with_monotonic(
            Arc::new(move || Duration::from_millis(mono_now.load(Ordering::Relaxed))),
        );
        if self.without_nonce {
            manager
        } else {
            manager.with_instance(nonce)
        }
    }
}
