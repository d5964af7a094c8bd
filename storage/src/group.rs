//! Group commit. A durable commit costs one log flush however many rows it
//! writes, so requests that arrive while a transaction is committing wait and
//! then share the next one. Each caller still returns only after the
//! transaction holding its request has committed.
//!
//! Leader and followers, no thread of its own: the first caller to find no
//! batch running leads one batch, then hands the lead to the oldest waiting
//! caller, so no caller serves more than the batch holding its own request.
//! At low load a request runs at once, alone, with no added delay.

use crate::deadline;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// The batch a request joined ended without an answer for it (the code that
/// ran the batch panicked). Nothing is known to have committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Abandoned;

enum SlotState<R> {
    Waiting,
    /// This caller's request is first in the queue: it runs the next batch.
    Lead,
    Done(Result<R, Abandoned>),
}

struct Slot<R> {
    state: Mutex<SlotState<R>>,
    changed: Condvar,
}

impl<R> Slot<R> {
    fn new() -> Self {
        Self {
            state: Mutex::new(SlotState::Waiting),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<R>> {
        // A slot's state is a plain value: a panic elsewhere cannot leave it
        // half-written, so a poisoned lock still holds a valid state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, state: SlotState<R>) {
        *self.lock() = state;
        self.changed.notify_one();
    }

    /// Blocks until this caller must lead or has its answer.
    fn wait(&self) -> SlotState<R> {
        let mut guard = self.lock();
        loop {
            match std::mem::replace(&mut *guard, SlotState::Waiting) {
                SlotState::Waiting => {
                    guard = self.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                other => return other,
            }
        }
    }
}

/// A request waiting for its batch: its op, its caller's slot, and its
/// caller's deadline (`crate::deadline`).
type Pending<Op, R> = (Op, Arc<Slot<R>>, Option<Instant>);

struct Queue<Op, R> {
    pending: VecDeque<Pending<Op, R>>,
    /// A caller is running a batch. While false, `pending` is empty.
    leading: bool,
}

pub(crate) struct GroupCommit<Op, R> {
    max_batch: usize,
    queue: Mutex<Queue<Op, R>>,
}

impl<Op, R> GroupCommit<Op, R> {
    pub fn new(max_batch: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                leading: false,
            }),
        }
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn lock(&self) -> MutexGuard<'_, Queue<Op, R>> {
        // Every critical section below leaves the queue consistent before it
        // can panic, so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op` in a batch with whatever else is waiting. `run` gets the
    /// batch in arrival order and must answer each op, in the same order.
    pub fn submit(&self, op: Op, run: &dyn Fn(Vec<Op>) -> Vec<R>) -> Result<R, Abandoned> {
        let slot = Arc::new(Slot::new());
        let lead_now = {
            let mut q = self.lock();
            q.pending.push_back((op, slot.clone(), deadline::current()));
            !std::mem::replace(&mut q.leading, true)
        };
        if !lead_now {
            match slot.wait() {
                SlotState::Done(r) => return r,
                SlotState::Lead | SlotState::Waiting => {}
            }
        }
        // This caller's op is first in the queue, so the batch holds it.
        self.lead(run);
        match slot.wait() {
            SlotState::Done(r) => r,
            SlotState::Lead | SlotState::Waiting => Err(Abandoned),
        }
    }

    fn lead(&self, run: &dyn Fn(Vec<Op>) -> Vec<R>) {
        let taken: Vec<Pending<Op, R>> = {
            let mut q = self.lock();
            let n = q.pending.len().min(self.max_batch);
            q.pending.drain(..n).collect()
        };
        // A request already answered 503 by its frontend stays out.
        let now = Instant::now();
        let (late, taken): (Vec<_>, Vec<_>) = taken
            .into_iter()
            .partition(|(_, _, d)| d.is_some_and(|d| now >= d));
        for (_, slot, _) in late {
            slot.set(SlotState::Done(Err(Abandoned)));
        }
        let earliest = taken.iter().filter_map(|(_, _, d)| *d).min();
        let (ops, slots): (Vec<Op>, Vec<Arc<Slot<R>>>) =
            taken.into_iter().map(|(op, slot, _)| (op, slot)).unzip();
        let batch = || {
            if ops.is_empty() {
                Vec::new()
            } else {
                deadline::with_deadline(earliest, || run(ops))
            }
        };
        let (answers, panic) = match catch_unwind(AssertUnwindSafe(batch)) {
            Ok(results) => (results, None),
            Err(payload) => (Vec::new(), Some(payload)),
        };
        let mut answers = answers.into_iter();
        for slot in &slots {
            slot.set(SlotState::Done(answers.next().ok_or(Abandoned)));
        }
        self.hand_off();
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    fn hand_off(&self) {
        let mut q = self.lock();
        match q.pending.front() {
            Some((_, next, _)) => next.set(SlotState::Lead),
            None => q.leading = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_lone_request_runs_alone_and_gets_its_answer() {
        let g = GroupCommit::new(8);
        let r = g.submit(21, &|ops: Vec<i32>| ops.iter().map(|x| x * 2).collect());
        assert_eq!(r, Ok(42));
    }

    #[test]
    fn concurrent_requests_share_batches_and_each_gets_its_own_answer() {
        let g = Arc::new(GroupCommit::new(16));
        let batches = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..64u64)
            .map(|i| {
                let (g, batches) = (g.clone(), batches.clone());
                std::thread::spawn(move || {
                    (0..50u64)
                        .map(|j| {
                            let op = i * 1000 + j;
                            let r = g.submit(op, &|ops: Vec<u64>| {
                                batches.fetch_add(1, Ordering::SeqCst);
                                assert!(ops.len() <= 16);
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                ops.iter().map(|x| x + 1).collect()
                            });
                            assert_eq!(r, Ok(op + 1));
                        })
                        .count()
                })
            })
            .collect();
        let done: usize = threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .sum();
        assert_eq!(done, 64 * 50);
        // 3,200 requests from 64 threads: batching must have happened.
        assert!(batches.load(Ordering::SeqCst) < 3200);
    }

    #[test]
    fn a_panicking_batch_abandons_its_requests_and_the_next_ones_still_run() {
        let g = Arc::new(GroupCommit::new(4));
        let first = catch_unwind(AssertUnwindSafe(|| {
            g.submit(1, &|_ops: Vec<i32>| -> Vec<i32> { panic!("planted") })
        }));
        assert!(first.is_err());
        assert_eq!(g.submit(2, &|ops: Vec<i32>| ops), Ok(2));
    }

    #[test]
    fn a_request_past_its_deadline_is_left_out_of_its_batch() {
        let g: GroupCommit<i32, i32> = GroupCommit::new(4);
        let ran = AtomicUsize::new(0);
        let past = Some(Instant::now());
        let r = deadline::with_deadline(past, || {
            g.submit(5, &|ops: Vec<i32>| {
                ran.fetch_add(ops.len(), Ordering::SeqCst);
                ops
            })
        });
        assert_eq!(r, Err(Abandoned));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing ran for it");
        let later = Some(Instant::now() + std::time::Duration::from_secs(60));
        let r = deadline::with_deadline(later, || {
            g.submit(6, &|ops: Vec<i32>| {
                assert_eq!(deadline::current(), later, "the batch runs under it");
                ops
            })
        });
        assert_eq!(r, Ok(6));
    }

    #[test]
    fn a_short_answer_abandons_only_the_unanswered() {
        let g: GroupCommit<i32, i32> = GroupCommit::new(4);
        assert_eq!(g.submit(5, &|_ops: Vec<i32>| Vec::new()), Err(Abandoned));
    }
}
