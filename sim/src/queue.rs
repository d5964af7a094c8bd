//! The event queue: events ordered by `(time, seq)`, `seq` counting pushes, so
//! two events at the same instant come out in the order they were pushed.
//!
//! A 4-ary min-heap of packed `u128` keys (`time << 64 | seq << 24 | slot`),
//! the payloads in a slab indexed by `slot` and reused through a free list.
//! One key compare is one 128-bit compare, and the heap is half as deep as a
//! binary one; nothing is allocated per event once the slab has grown.

const SLOT_BITS: u32 = 24;
const SEQ_BITS: u32 = 64 - SLOT_BITS;
const ARITY: usize = 4;

#[derive(Debug)]
pub struct EventQueue<T> {
    heap: Vec<u128>,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        Self {
            heap: Vec::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<T> EventQueue<T> {
    /// Queues `ev` at time `at`, after every event already queued at `at`.
    pub fn push(&mut self, at: u64, ev: T) {
        let seq = self.reserve();
        self.push_reserved(at, seq, ev);
    }

    /// Takes the next place in the push order, for an event that may be
    /// queued later (`push_reserved`) as if it had been pushed now.
    pub fn reserve(&mut self) -> u64 {
        self.seq += 1;
        assert!(self.seq < 1 << SEQ_BITS, "more than 2^{SEQ_BITS} events");
        self.seq
    }

    /// Queues `ev` at time `at` in the place `seq` taken by `reserve`.
    pub fn push_reserved(&mut self, at: u64, seq: u64, ev: T) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(ev);
                s
            }
            None => {
                self.slab.push(Some(ev));
                u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
            }
        };
        assert!(
            slot < 1 << SLOT_BITS,
            "more than 2^{SLOT_BITS} events pending"
        );
        let key = (u128::from(at) << 64) | u128::from(seq << SLOT_BITS | u64::from(slot));
        self.heap.push(key);
        self.sift_up(self.heap.len() - 1);
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(u64, T)> {
        let top = *self.heap.first()?;
        let last = self.heap.pop()?;
        if !self.heap.is_empty() {
            self.sift_down(last);
        }
        let slot = (top as u64 & ((1 << SLOT_BITS) - 1)) as u32;
        let ev = self.slab[slot as usize].take()?;
        self.free.push(slot);
        Some(((top >> 64) as u64, ev))
    }

    fn sift_up(&mut self, mut i: usize) {
        let key = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let p = self.heap[parent];
            if p <= key {
                break;
            }
            self.heap[i] = p;
            i = parent;
        }
        self.heap[i] = key;
    }

    /// Puts `key` at the root (whose old value was taken) and sinks it.
    fn sift_down(&mut self, key: u128) {
        let heap = &mut self.heap[..];
        let n = heap.len();
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            let (best, best_key) = if let Some(c) = heap.get(first..first + ARITY) {
                // All four children: a small tournament (two independent
                // compares, then one).
                let (i1, k1) = if c[1] < c[0] { (1, c[1]) } else { (0, c[0]) };
                let (i2, k2) = if c[3] < c[2] { (3, c[3]) } else { (2, c[2]) };
                if k2 < k1 {
                    (first + i2, k2)
                } else {
                    (first + i1, k1)
                }
            } else if first < n {
                let mut best = first;
                for c in first + 1..n {
                    if heap[c] < heap[best] {
                        best = c;
                    }
                }
                (best, heap[best])
            } else {
                break;
            };
            if key <= best_key {
                break;
            }
            heap[i] = best_key;
            i = best;
        }
        heap[i] = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;

    #[test]
    fn pops_in_time_then_push_order() {
        let mut q = EventQueue::default();
        let mut rng = SimRng::new(3);
        let mut want = Vec::new();
        let mut n = 0u32;
        for round in 0..50u64 {
            for _ in 0..40 {
                let at = round * 10 + rng.below(30);
                q.push(at, n);
                want.push((at, n));
                n += 1;
            }
            // Pop some, as the simulator does, so slots get reused.
            want.sort();
            for _ in 0..25 {
                let got = q.pop().expect("event");
                assert_eq!(got, want.remove(0));
            }
            // Everything still queued is at or after the last pop: keep the
            // pushes monotone like the simulator's.
        }
        want.sort();
        for w in want {
            assert_eq!(q.pop(), Some(w));
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_reserved_place_keeps_its_order() {
        let mut q = EventQueue::default();
        q.push(5, "a");
        let seq = q.reserve();
        q.push(5, "c");
        q.push(4, "x");
        q.push_reserved(5, seq, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(4, "x"), (5, "a"), (5, "b"), (5, "c")]);
    }
}
