//! The deadline of the request a thread works for. A frontend stops waiting
//! for storage at the statement timeout and answers 503; what the request
//! started must then not take effect afterwards (a grant its component was
//! told failed would hold a slot for days). So the storage work checks the
//! deadline before it begins a transaction, caps its wait for a connection
//! by it, and rolls back rather than commit once it has passed. Only a
//! COMMIT already on its way when the deadline passes can still land, as a
//! commit whose answer the network lost always could.
//!
//! A group-commit batch runs on its leader's thread under the earliest
//! deadline of the requests it holds; a request whose deadline has passed
//! before its batch starts is left out (`crate::group`).

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with `deadline` as this thread's request deadline; the one in
/// force before is back afterwards.
pub fn with_deadline<T>(deadline: Option<Instant>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DEADLINE.with(|d| d.replace(deadline)));
    f()
}

/// This thread's request deadline, if any.
pub fn current() -> Option<Instant> {
    DEADLINE.with(Cell::get)
}

/// The time left to this thread's request deadline, if it has one. The
/// request deadline is the one thing storage measures on the process's
/// clock: a bound on waiting, never an instant a decision is taken at.
pub fn remaining() -> Option<std::time::Duration> {
    current().map(|d| d.saturating_duration_since(Instant::now()))
}

/// Whether this thread's request deadline has passed.
pub fn passed() -> bool {
    current().is_some_and(|d| Instant::now() >= d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_nest_and_come_back() {
        assert_eq!(current(), None);
        let soon = Instant::now() + Duration::from_secs(60);
        with_deadline(Some(soon), || {
            assert_eq!(current(), Some(soon));
            assert!(!passed());
            with_deadline(Some(Instant::now()), || assert!(passed()));
            assert_eq!(current(), Some(soon));
        });
        assert_eq!(current(), None);
    }
}
