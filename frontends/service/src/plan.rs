//! The server's limits and timeouts, worked out once from the settings for
//! both frontends, so that a flag means the same on tokio and on smol; and
//! the policy that enforces them without a runtime: who is admitted
//! (`admission`), when the heartbeat and sweep run (`periodic`), what a
//! request does next (`request`), and the server's start and drain
//! (`server`). A frontend keeps only its runtime's
//! glue: the accept loop, its tasks and timers, and its HTTP library.

pub mod admission;
pub mod periodic;
pub mod request;
mod server;

pub use admission::{Admission, Admitted, Limit, Permit};
pub use periodic::{Periodic, Run, Work};
pub use request::{Step, StorageWork};
pub use server::Server;

use crate::cli::ServeArgs;
use std::time::{Duration, Instant};

/// What each frontend enforces; every count is at least 1 (a zero would
/// refuse every connection or request), but the per-address cap, where 0
/// means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerPlan {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_inflight: usize,
    /// A client must send its whole request head within this.
    pub header_timeout: Duration,
    /// A client must send its whole body within this.
    pub body_timeout: Duration,
    /// A connection without progress is closed after this.
    pub idle_timeout: Duration,
    /// How long in-flight requests may finish after SIGTERM.
    pub drain_timeout: Duration,
    /// How often the background sweep (expiry, heartbeat) runs.
    pub sweep_every: Duration,
    /// How long a request waits for storage before it answers 503; `None`
    /// waits as long as storage takes.
    pub storage_timeout: Option<Duration>,
}

impl ServerPlan {
    pub fn of(args: &ServeArgs) -> Self {
        Self {
            max_connections: args.max_connections.max(1),
            max_connections_per_ip: args.max_connections_per_ip,
            max_inflight: args.max_inflight.max(1),
            header_timeout: args.header_read_timeout,
            body_timeout: args.body_read_timeout,
            idle_timeout: args.idle_timeout,
            drain_timeout: args.drain_timeout,
            sweep_every: args.sweep_every,
            storage_timeout: (!args.db_statement_timeout.is_zero())
                .then_some(args.db_statement_timeout),
        }
    }

    /// When the storage work of a request started at `now` must stop: a
    /// tenth of the storage timeout before its 503 goes, so that nothing it
    /// starts takes effect after the client was told it failed
    /// (`tenure_storage::deadline`).
    pub fn storage_deadline(&self, now: Instant) -> Option<Instant> {
        self.storage_timeout.map(|t| now + t * 9 / 10)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    /// The plan of `tenured serve` with its defaults.
    pub(crate) fn plan() -> ServerPlan {
        ServerPlan::of(&serve_args(&[]))
    }

    fn serve_args(extra: &[&str]) -> ServeArgs {
        let mut args = vec![
            "tenured",
            "serve",
            "--vendor-key",
            "vendor.pub",
            "--admin-token-file",
            "admin.token",
        ];
        args.extend_from_slice(extra);
        match Cli::from_args(args.into_iter().map(Into::into).collect()) {
            Ok(Cli {
                command: Command::Serve(a),
                ..
            }) => *a,
            other => panic!("not a serve command: {other:?}"),
        }
    }

    #[test]
    fn zero_counts_become_one_and_zero_statement_timeout_waits() {
        let plan = ServerPlan::of(&serve_args(&[
            "--max-connections",
            "0",
            "--max-inflight",
            "0",
            "--max-connections-per-ip",
            "0",
            "--db-statement-timeout",
            "0s",
        ]));
        assert_eq!(plan.max_connections, 1);
        assert_eq!(plan.max_inflight, 1);
        assert_eq!(plan.max_connections_per_ip, 0);
        assert_eq!(plan.storage_timeout, None);
        assert_eq!(plan.storage_deadline(Instant::now()), None);
    }

    #[test]
    fn storage_work_stops_a_tenth_before_the_answer() {
        let plan = ServerPlan::of(&serve_args(&["--db-statement-timeout", "10s"]));
        let now = Instant::now();
        assert_eq!(plan.storage_timeout, Some(Duration::from_secs(10)));
        assert_eq!(
            plan.storage_deadline(now),
            Some(now + Duration::from_secs(9))
        );
    }
}
