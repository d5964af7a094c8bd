//! Who gets a connection and who gets storage work: `--max-connections`,
//! `--max-connections-per-ip` and `--max-inflight`, counted the same way on
//! both frontends. A frontend only asks, never waits: a connection over a
//! limit is closed at once, a request over `--max-inflight` answers 503.

use super::ServerPlan;
use crate::per_ip::{IpSlot, PerIp};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long the accept loop pauses after a failed `accept` (out of file
/// descriptors and the like) before it tries again: long enough not to spin,
/// short enough to keep serving.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Says why `accept` failed; the loop then pauses [`ACCEPT_BACKOFF`].
pub fn accept_failed(e: &std::io::Error) -> Duration {
    tracing::warn!(error = %e, "accept failed");
    ACCEPT_BACKOFF
}

/// A count with a ceiling, taken without waiting.
#[derive(Debug, Clone)]
pub struct Limit {
    max: usize,
    taken: Arc<AtomicUsize>,
}

/// One unit of a [`Limit`]; it comes back when this is dropped.
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limit {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            taken: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A unit, or `None` when all `max` are taken.
    pub fn try_acquire(&self) -> Option<Permit> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(self.taken.clone()))
    }

    /// Units taken now.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }
}

/// The connection limits of one server.
#[derive(Debug)]
pub struct Admission {
    connections: Limit,
    per_ip: Arc<PerIp>,
}

/// An admitted connection: it holds its slots until it is dropped.
#[derive(Debug)]
pub struct Admitted {
    _ip: IpSlot,
    _connection: Permit,
}

impl Admission {
    pub fn new(plan: &ServerPlan) -> Self {
        Self {
            connections: Limit::new(plan.max_connections),
            per_ip: Arc::new(PerIp::new(plan.max_connections_per_ip)),
        }
    }

    /// The slots of a connection from `peer`, or `None` (and a warning) when
    /// the server or the peer's address holds its limit already: the
    /// frontend then closes the connection unanswered.
    pub fn admit(&self, peer: SocketAddr) -> Option<Admitted> {
        let Some(connection) = self.connections.try_acquire() else {
            tracing::warn!(%peer, "connection limit reached; closing");
            return None;
        };
        let Some(ip) = self.per_ip.admit(peer.ip()) else {
            tracing::warn!(%peer, "connection limit for this address reached; closing");
            return None;
        };
        Some(Admitted {
            _ip: ip,
            _connection: connection,
        })
    }

    /// Connections open now, for the drain.
    pub fn open(&self) -> usize {
        self.connections.taken()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn a_limit_gives_max_units_and_takes_them_back() {
        let l = Limit::new(2);
        let a = l.try_acquire().expect("first");
        let _b = l.try_acquire().expect("second");
        assert!(l.try_acquire().is_none());
        assert_eq!(l.taken(), 2);
        drop(a);
        assert!(l.try_acquire().is_some());
    }

    #[test]
    fn connections_count_against_both_limits_and_a_refusal_holds_nothing() {
        let plan = ServerPlan {
            max_connections: 3,
            max_connections_per_ip: 1,
            ..crate::plan::tests::plan()
        };
        let admission = Admission::new(&plan);
        let first = admission.admit(peer("10.0.0.1:1000")).expect("first");
        assert!(
            admission.admit(peer("10.0.0.1:1001")).is_none(),
            "same address"
        );
        assert_eq!(admission.open(), 1, "the refused one gave its slot back");
        let _second = admission
            .admit(peer("10.0.0.2:1000"))
            .expect("another address");
        let _third = admission.admit(peer("10.0.0.3:1000")).expect("third");
        assert!(
            admission.admit(peer("10.0.0.4:1000")).is_none(),
            "server full"
        );
        drop(first);
        assert_eq!(admission.open(), 2);
        assert!(admission.admit(peer("10.0.0.1:1002")).is_some());
    }
}
