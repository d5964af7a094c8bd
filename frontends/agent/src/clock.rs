use crate::runtime::Runtime;
use crate::suspend::SuspendMeter;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tenure_core::{Now, UnixMillis};

/// Maps the host clocks to the core's `Now`: `mono` from a start instant on
/// the runtime's clock (so paused-time tests work) plus the time the host
/// spent suspended (T2: a suspend counts even when the wall clock was set
/// back), `wall` from the system clock (T2 takes the max).
#[derive(Debug, Clone)]
pub struct Clock {
    runtime: Arc<dyn Runtime>,
    start: Instant,
    suspend: Arc<SuspendMeter>,
}

impl Clock {
    pub fn new(runtime: Arc<dyn Runtime>) -> Self {
        Self {
            start: runtime.now(),
            runtime,
            suspend: Arc::new(SuspendMeter::new()),
        }
    }

    pub fn now(&self) -> Now {
        let awake = self.runtime.now().saturating_duration_since(self.start);
        Now::new(self.suspend.mono(awake), wall_now())
    }

    /// The runtime instant of a core monotonic reading, for `sleep_until`
    /// (runtime timers count awake time only).
    pub fn instant_at(&self, mono: Duration) -> Instant {
        self.start
            .checked_add(self.suspend.awake_at(mono))
            // Far enough to mean "not soon"; the core wakes itself within max_sleep anyway.
            .unwrap_or_else(|| self.runtime.now() + Duration::from_secs(86_400))
    }
}

/// The system clock as the core reads wall time.
pub fn wall_now() -> UnixMillis {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => UnixMillis(ms(d)),
        // A clock set before 1970 is still a reading; T2 copes with it.
        Err(e) => UnixMillis(ms(e.duration()).saturating_neg()),
    }
}
