//! How an agent is set up.

use crate::wire::GrantRequest;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Identity and host facts. `client_time` is overwritten with the wall
    /// clock each time a grant request is queued.
    pub request: GrantRequest,
    /// How many manager URLs the driver has (A6); transmits name an index below
    /// this. Zero is read as one.
    pub managers: usize,
    /// First backoff ceiling after a failed round (A2). Default 1 s.
    pub initial_backoff: Duration,
    /// Backoff ceiling while starting, when there is no `renew_every` yet to cap
    /// it. Default 60 s.
    pub max_start_backoff: Duration,
    /// No answer by then counts as `TransportError::Timeout`. The core owns this
    /// so a lost message cannot stall the agent. Default 10 s.
    pub request_timeout: Duration,
    /// `poll_timeout` never asks to sleep longer than this. A suspended host's
    /// monotonic clock stops while its wall clock runs; waking at least this often
    /// lets the agent see the wall-clock time that passed (T2). Default 60 s.
    pub max_sleep: Duration,
    /// A step of the wall clock against the monotonic clock between two
    /// calls larger than this is reported (`Event::ClockStepped`, T2).
    /// Default 5 s (`max_clock_skew`, section 9).
    pub max_clock_skew: Duration,
}

impl AgentConfig {
    pub fn new(request: GrantRequest, managers: usize) -> Self {
        Self {
            request,
            managers,
            initial_backoff: Duration::from_secs(1),
            max_start_backoff: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            max_sleep: Duration::from_secs(60),
            max_clock_skew: Duration::from_secs(5),
        }
    }

    /// How long a confirmation round (T2, `State::Confirming`) can last: each
    /// manager once, plus one re-grant after a 404, each bounded by the
    /// request timeout (as the agent reads it: at least 1 ms). This is the
    /// most real time a component runs past its grace deadline when its
    /// wall clock is right and its monotonic clock stood still (a paused VM,
    /// a driver whose monotonic reading skips suspend), counted from the
    /// first call after the wall clock says grace is over. With a monotonic
    /// clock that counts real time, the monotonic deadline still stops the
    /// component on time (I2) and this adds nothing. A checker of I2 adds
    /// this to the grace of such hosts.
    pub fn confirmation_bound(&self) -> Duration {
        let attempts = u32::try_from(self.managers.max(1)).unwrap_or(u32::MAX);
        self.request_timeout
            .max(MIN_TICK)
            .saturating_mul(attempts.saturating_add(1))
    }
}

/// The shortest timeout the agent takes: zero would make `poll_timeout` ask
/// for a wake-up at the same instant forever.
pub(crate) const MIN_TICK: Duration = Duration::from_millis(1);

/// The `max_sleep` real drivers use. Their timers sleep on the monotonic
/// clock, which stops while the host is suspended: waking every second bounds
/// how long a host resumed past its grace deadline runs on (I2) to about a
/// second, for a few hundred nanoseconds of work per wake-up.
pub const DRIVER_MAX_SLEEP: Duration = Duration::from_secs(1);
