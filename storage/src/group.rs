//! Group commit. A durable commit costs one log flush however many rows it
//! writes, so requests that arrive while a transaction is committing wait and
//! then share the next one. Each caller still returns only after the
//! transaction holding its request has committed.
//!
//! Leader and followers, no thread of its own: a caller that finds fewer
//! batches running than allowed (one, unless the store lets batches overlap)
//! leads a batch at once; a leader that finishes takes the next batch off
//! the queue and hands it, with the lead, to the caller whose request is
//! oldest in it, so no caller serves more than the batch holding its own
//! request. At low load a request runs at once, alone, with no added delay.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The batch a request joined ended without an answer for it (the code that
/// ran the batch panicked). Nothing is known to have committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Abandoned;

type Batch<Op, R> = Vec<(Op, Arc<Slot<Op, R>>)>;

enum SlotState<Op, R> {
    Waiting,
    /// This caller leads the batch, which holds its own request first. The
    /// batch is taken off the queue when the lead is handed over, so two
    /// finishing leaders can never hand the same requests on.
    Lead(Batch<Op, R>),
    Done(Result<R, Abandoned>),
}

struct Slot<Op, R> {
    state: Mutex<SlotState<Op, R>>,
    changed: Condvar,
}

impl<Op, R> Slot<Op, R> {
    fn new() -> Self {
        Self {
            state: Mutex::new(SlotState::Waiting),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<Op, R>> {
        // A slot's state is a plain value: a panic elsewhere cannot leave it
        // half-written, so a poisoned lock still holds a valid state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, state: SlotState<Op, R>) {
        *self.lock() = state;
        self.changed.notify_one();
    }

    /// Blocks until this caller must lead or has its answer.
    fn wait(&self) -> SlotState<Op, R> {
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

struct Queue<Op, R> {
    pending: VecDeque<(Op, Arc<Slot<Op, R>>)>,
    /// Batches running. While below the limit, `pending` is empty.
    leading: usize,
}

pub(crate) struct GroupCommit<Op, R> {
    max_batch: usize,
    max_leaders: usize,
    queue: Mutex<Queue<Op, R>>,
}

impl<Op, R> GroupCommit<Op, R> {
    pub fn new(max_batch: usize) -> Self {
        Self::overlapping(max_batch, 1)
    }

    /// Up to `max_leaders` batches run at once.
    pub fn overlapping(max_batch: usize, max_leaders: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            max_leaders: max_leaders.max(1),
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                leading: 0,
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

    fn take_batch(&self, q: &mut Queue<Op, R>) -> Batch<Op, R> {
        let n = q.pending.len().min(self.max_batch);
        q.pending.drain(..n).collect()
    }

    /// Runs `op` in a batch with whatever else is waiting. `run` gets the
    /// batch in arrival order and must answer each op, in the same order.
    pub fn submit(&self, op: Op, run: &dyn Fn(Vec<Op>) -> Vec<R>) -> Result<R, Abandoned> {
        let slot = Arc::new(Slot::new());
        let batch = {
            let mut q = self.lock();
            q.pending.push_back((op, slot.clone()));
            if q.leading < self.max_leaders {
                q.leading += 1;
                // The queue was empty: the batch is this request alone.
                Some(self.take_batch(&mut q))
            } else {
                None
            }
        };
        let batch = match batch {
            Some(b) => b,
            None => match slot.wait() {
                SlotState::Done(r) => return r,
                SlotState::Lead(b) => b,
                SlotState::Waiting => return Err(Abandoned),
            },
        };
        self.lead(batch, run);
        match slot.wait() {
            SlotState::Done(r) => r,
            SlotState::Lead(_) | SlotState::Waiting => Err(Abandoned),
        }
    }

    fn lead(&self, batch: Batch<Op, R>, run: &dyn Fn(Vec<Op>) -> Vec<R>) {
        let (ops, slots): (Vec<Op>, Vec<Arc<Slot<Op, R>>>) = batch.into_iter().unzip();
        let (answers, panic) = match catch_unwind(AssertUnwindSafe(|| run(ops))) {
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
        let next = self.take_batch(&mut q);
        match next.first().map(|(_, slot)| slot.clone()) {
            Some(leader) => leader.set(SlotState::Lead(next)),
            None => q.leading -= 1,
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
    fn a_short_answer_abandons_only_the_unanswered() {
        let g: GroupCommit<i32, i32> = GroupCommit::new(4);
        assert_eq!(g.submit(5, &|_ops: Vec<i32>| Vec::new()), Err(Abandoned));
    }

    #[test]
    fn overlapping_batches_never_exceed_the_limit_and_answer_everyone() {
        for leaders in [1, 3] {
            let g = Arc::new(GroupCommit::overlapping(8, leaders));
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..32u64)
                .map(|i| {
                    let (g, running, most) = (g.clone(), running.clone(), most.clone());
                    std::thread::spawn(move || {
                        for j in 0..40u64 {
                            let op = i * 1000 + j;
                            let r = g.submit(op, &|ops: Vec<u64>| {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                assert!(!ops.is_empty() && ops.len() <= 8);
                                std::thread::sleep(std::time::Duration::from_micros(300));
                                running.fetch_sub(1, Ordering::SeqCst);
                                ops.iter().map(|x| x * 2).collect()
                            });
                            assert_eq!(r, Ok(op * 2));
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("no panic");
            }
            let most = most.load(Ordering::SeqCst);
            assert!(
                most <= leaders,
                "{most} batches ran at once, limit {leaders}"
            );
            if leaders > 1 {
                assert!(most > 1, "32 threads never overlapped two batches");
            }
            // Every lead was given back: a lone request now leads at once.
            assert_eq!(g.lock().leading, 0);
            assert_eq!(g.submit(7, &|ops: Vec<u64>| ops), Ok(7));
        }
    }
}
