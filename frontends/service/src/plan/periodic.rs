//! The heartbeat and the sweep on a frontend's timers: how often each runs,
//! and that one of each runs at a time. Their bodies
//! (`Service::heartbeat`, `Service::sweep`) block on storage, so the
//! frontend runs what [`Periodic::tick`] hands it on its blocking pool.
//!
//! A heartbeat or sweep whose database call hangs must not stop the next
//! ones (M6 counts on them): a tick that finds the last run still waiting
//! for storage skips, and says so.

use super::ServerPlan;
use crate::service::Service;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tenure_core::health::HEARTBEAT_EVERY;
use tenure_storage::Store;

/// The shortest sweep period, whatever `--sweep-every` says: a zero period
/// would run sweeps back to back.
const MIN_SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Heartbeat,
    Sweep,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Heartbeat => "heartbeat",
            Work::Sweep => "sweep",
        }
    }
}

/// One kind of periodic work of one server.
#[derive(Debug)]
pub struct Periodic<S> {
    service: Arc<Service<S>>,
    work: Work,
    every: Duration,
    running: Arc<AtomicBool>,
}

/// One run, to be called on the frontend's blocking pool.
#[must_use = "a run does nothing until it is called"]
#[derive(Debug)]
pub struct Run<S> {
    service: Arc<Service<S>>,
    work: Work,
    _busy: Busy,
}

/// Marks the work running until the run ends, however it ends (a panic in
/// storage code included), so the next tick is not skipped for ever.
#[derive(Debug)]
struct Busy(Arc<AtomicBool>);

impl Busy {
    /// The work's flag, unless a run holds it already.
    fn claim(running: &Arc<AtomicBool>) -> Option<Self> {
        (!running.swap(true, Ordering::AcqRel)).then(|| Self(running.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn sweep_every(plan: &ServerPlan) -> Duration {
    plan.sweep_every.max(MIN_SWEEP_EVERY)
}

impl<S: Store> Periodic<S> {
    /// The heartbeat (every `HEARTBEAT_EVERY`) and the sweep
    /// (`--sweep-every`, at least a second) of `service`.
    pub fn both(service: &Arc<Service<S>>, plan: &ServerPlan) -> [Self; 2] {
        [
            Self::new(service, Work::Heartbeat, HEARTBEAT_EVERY),
            Self::new(service, Work::Sweep, sweep_every(plan)),
        ]
    }

    fn new(service: &Arc<Service<S>>, work: Work, every: Duration) -> Self {
        Self {
            service: service.clone(),
            work,
            every,
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The timer's period.
    pub fn every(&self) -> Duration {
        self.every
    }

    pub fn work(&self) -> Work {
        self.work
    }

    /// What one tick of the timer starts: the run, or `None` when the last
    /// one is still waiting for storage.
    pub fn tick(&self) -> Option<Run<S>> {
        let Some(busy) = Busy::claim(&self.running) else {
            tracing::warn!(
                "the last {} is still waiting for storage; skipping one",
                self.work.name()
            );
            return None;
        };
        Some(Run {
            service: self.service.clone(),
            work: self.work,
            _busy: busy,
        })
    }
}

impl<S: Store> Run<S> {
    /// Does the work. Blocking.
    pub fn call(self) {
        match self.work {
            Work::Heartbeat => self.service.heartbeat(),
            Work::Sweep => self.service.sweep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_at_a_time_and_the_next_after_it_ends() {
        let running = Arc::new(AtomicBool::new(false));
        let first = Busy::claim(&running).expect("the first run");
        assert!(Busy::claim(&running).is_none(), "a second while one runs");
        drop(first);
        assert!(Busy::claim(&running).is_some(), "the next after it ended");
    }

    #[test]
    fn a_run_that_panics_does_not_stop_the_next() {
        let running = Arc::new(AtomicBool::new(false));
        let held = running.clone();
        let panicked = std::thread::spawn(move || {
            let _busy = Busy::claim(&held).expect("claimed");
            panic!("storage code panicked");
        })
        .join();
        assert!(panicked.is_err());
        assert!(Busy::claim(&running).is_some());
    }

    #[test]
    fn sweeps_are_at_least_a_second_apart() {
        let mut plan = crate::plan::tests::plan();
        plan.sweep_every = Duration::ZERO;
        assert_eq!(sweep_every(&plan), MIN_SWEEP_EVERY);
        plan.sweep_every = Duration::from_secs(30);
        assert_eq!(sweep_every(&plan), Duration::from_secs(30));
    }
}
