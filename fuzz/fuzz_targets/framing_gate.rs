//! The framing gate of both servers (section 6.1): arbitrary bytes, arriving
//! in arbitrary pieces, read back through buffers of arbitrary size.
//!
//! Asserts: no panic; in raw mode (hyper) what the library reads is exactly
//! the start of what arrived, followed by nothing but the synthetic request
//! once a head is refused; in canonical mode (async-h1) every head handed
//! over is canonical; nothing is handed over after a refusal; a served
//! head's path is a path (or `*`).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tenure_service::framing::{Gate, Mode, Read, Verdict};

#[derive(Debug, Arbitrary)]
struct Input {
    canonical: bool,
    read_size: u8,
    pieces: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let mode = if input.canonical { Mode::Canonical } else { Mode::Raw };
    let mut gate = Gate::new(mode);
    let mut buf = vec![0u8; usize::from(input.read_size).max(1)];
    let mut arrived = Vec::new();
    let mut read = Vec::new();
    let mut served = 0usize;
    // Where the synthetic request of a refusal starts in `read`.
    let mut refusal = None;
    for piece in &input.pieces {
        arrived.extend_from_slice(piece);
        gate.push(piece);
        loop {
            match gate.read(&mut buf) {
                Read::Bytes(n) => {
                    assert!(n > 0 && n <= buf.len());
                    let at = read.len();
                    read.extend_from_slice(&buf[..n]);
                    // A verdict is queued with the first bytes of its head.
                    while let Some(v) = gate.next_verdict() {
                        assert!(refusal.is_none(), "a verdict after a refusal: {v:?}");
                        match v {
                            Verdict::Serve(head) => {
                                served += 1;
                                assert!(head.path.starts_with('/') || head.path == "*");
                            }
                            Verdict::Refuse(r) => {
                                assert!(r.status() == 400 || r.status() == 431);
                                refusal = Some(at);
                            }
                        }
                    }
                }
                Read::NeedInput | Read::Failed(_) => break,
                Read::Stalled => {
                    assert!(refusal.is_some(), "stalled without a refusal");
                    break;
                }
            }
        }
    }
    if mode == Mode::Raw {
        // hyper reads the bytes as they came, then at most the synthetic
        // request of a refusal, and nothing after it.
        let end = refusal.unwrap_or(read.len());
        assert!(arrived.starts_with(&read[..end]), "raw mode altered the stream");
        if refusal.is_some() {
            let rest = &read[end..];
            assert!(
                rest == b"GET / HTTP/1.1\r\n\r\n" || rest == b"GET / HTTP/1.0\r\n\r\n",
                "{:?}",
                String::from_utf8_lossy(rest)
            );
        }
    } else if served > 0 || refusal.is_some() {
        assert!(
            read.starts_with(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                || read.starts_with(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n"),
            "canonical heads only: {:?}",
            String::from_utf8_lossy(&read[..read.len().min(64)])
        );
    }
});
