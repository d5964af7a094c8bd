//! A running server as both frontends hold it: the service, its plan and
//! the counts its limits keep, shared by every connection.

use super::ServerPlan;
use super::admission::{Admission, Limit};
use crate::cli::ServeArgs;
use crate::service::Service;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tenure_storage::Store;

#[derive(Debug)]
pub struct Server<S> {
    pub service: Arc<Service<S>>,
    pub plan: ServerPlan,
    /// `--max-inflight`: storage work running now.
    pub inflight: Limit,
    /// `--max-connections` and `--max-connections-per-ip`.
    pub admission: Admission,
    draining: AtomicBool,
}

impl<S: Store> Server<S> {
    /// Works out the plan from `args` and announces `local`, the socket the
    /// frontend now accepts on (the line scripts and tests read).
    pub fn start(service: Arc<Service<S>>, args: &ServeArgs, local: SocketAddr, tls: bool) -> Self {
        crate::launch::announce(local, tls, service.node_id());
        let plan = ServerPlan::of(args);
        Self {
            inflight: Limit::new(plan.max_inflight),
            admission: Admission::new(&plan),
            service,
            plan,
            draining: AtomicBool::new(false),
        }
    }

    /// The accept loop has stopped: in-flight requests get `drain_timeout`,
    /// and their answers say the connection closes after them.
    pub fn drain_started(&self) {
        tracing::info!("shutting down: draining in-flight requests");
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the drain has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The drain ran out of time with connections still open.
    pub fn drain_timed_out(&self) {
        tracing::warn!(
            open = self.admission.open(),
            "drain timeout: closing the remaining connections"
        );
    }

    /// Leaves the registry (blocking) and says the server stopped.
    pub fn stop(&self) {
        self.service.deregister();
        tracing::info!("stopped");
    }
}
