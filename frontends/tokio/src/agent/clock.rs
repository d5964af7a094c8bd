use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tenure_core::{Now, UnixMillis};
use tenure_service::suspend::SuspendMeter;
use tokio::time::Instant;

/// Maps the host clocks to the core's `Now`: `mono` from a start instant (tokio's,
/// so paused-time tests work) plus the time the host spent suspended (T2: a
/// suspend counts even when the wall clock was set back), `wall` from the
/// system clock (T2 takes the max).
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    start: Instant,
    suspend: Arc<SuspendMeter>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            suspend: Arc::new(SuspendMeter::new()),
        }
    }

    pub(crate) fn now(&self) -> Now {
        let awake = Instant::now().saturating_duration_since(self.start);
        Now::new(self.suspend.mono(awake), wall_now())
    }

    /// The tokio instant of a core monotonic reading, for `sleep_until`
    /// (tokio's timers count awake time only).
    pub(crate) fn instant_at(&self, mono: Duration) -> Instant {
        self.start
            .checked_add(self.suspend.awake_at(mono))
            // Far enough to mean "not soon"; the core wakes itself within max_sleep anyway.
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
    }
}

pub(crate) fn wall_now() -> UnixMillis {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => UnixMillis(ms(d)),
        // A clock set before 1970 is still a reading; T2 copes with it.
        Err(e) => UnixMillis(ms(e.duration()).saturating_neg()),
    }
}
