//! The requests an agent has queued for its driver, oldest first.

use super::io::Transmit;
use std::collections::VecDeque;

/// Almost always empty or holding one request, so the first is kept inline
/// in the agent (whose memory a step touches anyway) and only the rare extra
/// ones (a release queued beside a pending request) go to a heap queue. A
/// driver of thousands of agents, like the simulator, otherwise misses the
/// cache on every agent's separate queue buffer at every send.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outbox {
    /// The oldest; `None` only when `rest` is empty too.
    first: Option<Transmit>,
    rest: VecDeque<Transmit>,
}

impl Outbox {
    pub(crate) fn push_back(&mut self, t: Transmit) {
        if self.first.is_none() {
            self.first = Some(t);
        } else {
            self.rest.push_back(t);
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Transmit> {
        let out = self.first.take();
        self.first = self.rest.pop_front();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GrantId;
    use crate::agent::io::{Request, RequestId};

    fn t(n: u64) -> Transmit {
        Transmit {
            id: RequestId(n),
            manager: 0,
            request: Request::Release {
                grant_id: GrantId::from_random([n as u8; 16]),
            },
        }
    }

    #[test]
    fn first_in_first_out_across_the_inline_slot() {
        let mut o = Outbox::default();
        assert_eq!(o.pop_front(), None);
        let mut next_in = 0;
        let mut next_out = 0;
        // Interleave pushes and pops so the inline slot empties and refills
        // with requests from the heap queue and with new ones.
        for round in 0..20u64 {
            for _ in 0..(round % 4) {
                o.push_back(t(next_in));
                next_in += 1;
            }
            for _ in 0..(round % 3) {
                match o.pop_front() {
                    Some(x) => {
                        assert_eq!(x, t(next_out));
                        next_out += 1;
                    }
                    None => assert_eq!(next_out, next_in),
                }
            }
        }
        while let Some(x) = o.pop_front() {
            assert_eq!(x, t(next_out));
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
    }
}
