//! I8: the same seed gives the same trace, byte for byte; another seed does not.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tenure_sim::{Scale, scenario};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn traced(seed: u64) -> (u64, Vec<u8>) {
    let plan = scenario::named("split-brain", seed, 5, 1, Scale::DEFAULT).expect("named");
    let buf = Buf::default();
    let report = tenure_sim::run(plan, Some(Box::new(buf.clone())));
    let bytes = buf.0.lock().expect("buffer").clone();
    (report.trace_hash, bytes)
}

#[test]
fn same_seed_same_trace_hash_and_bytes() {
    let (h1, t1) = traced(42);
    let (h2, t2) = traced(42);
    assert_eq!(h1, h2);
    assert_eq!(t1, t2);
    assert!(!t1.is_empty());
    let (h3, _) = traced(43);
    assert_ne!(h1, h3);
}

#[test]
fn swarm_seed_replays() {
    let a = tenure_sim::run_swarm_seed(7);
    let b = tenure_sim::run_swarm_seed(7);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
}
