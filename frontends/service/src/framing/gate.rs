//! The stream gate between a connection's bytes and an HTTP library (see
//! the module above). Sans-IO: a server pushes what it read from the socket
//! and pulls what the library may read.

use super::MAX_HEAD_BYTES;
use super::chunked::Chunked;
use super::head::{self, Body, Head, Parsed, Refusal, Version};
use std::collections::VecDeque;

/// The HTTP/2 connection preface (RFC 9113 section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the library is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Heads and bodies as received (hyper reads HTTP/1.0 and 1.1 itself).
    /// A connection that opens with the HTTP/2 preface is passed through.
    Raw,
    /// A canonical HTTP/1.1 head (`GET` or `HEAD`, target `/`, `Host:
    /// localhost`, the framing header) and a plainly re-encoded chunked
    /// body (async-h1). The request itself is in the [`Verdict`].
    Canonical,
}

/// One request head the library was handed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Serve(Box<Head>),
    /// The library was handed a synthetic request in its place: answer
    /// this refusal and close.
    Refuse(Refusal),
}

/// The outcome of [`Gate::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// This many bytes were copied.
    Bytes(usize),
    /// Push more bytes from the socket (end of stream if there are none).
    NeedInput,
    /// A refusal was handed over: nothing more comes from this connection.
    Stalled,
    /// A chunked body broke its framing: an error for the library.
    Failed(&'static str),
}

#[derive(Debug)]
enum State {
    Head,
    Fixed(u64),
    Chunked(Chunked),
    Passthrough,
    Refused,
    Failed(&'static str),
}

#[derive(Debug)]
pub struct Gate {
    mode: Mode,
    state: State,
    /// No head has been read on this connection yet.
    fresh: bool,
    /// Read from the socket, not yet handed over.
    input: Vec<u8>,
    /// Bytes of a head in `input` already looked at for its end.
    scanned: usize,
    /// For the library, from one message only.
    output: Vec<u8>,
    sent: usize,
    verdicts: VecDeque<Verdict>,
}

impl Gate {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            state: State::Head,
            fresh: true,
            input: Vec::new(),
            scanned: 0,
            output: Vec::new(),
            sent: 0,
            verdicts: VecDeque::new(),
        }
    }

    /// Bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Whether part of a head has arrived and waits for the rest.
    pub fn holds_partial_head(&self) -> bool {
        matches!(self.state, State::Head) && !self.input.is_empty()
    }

    /// The verdict on the oldest head handed over and not yet taken.
    pub fn next_verdict(&mut self) -> Option<Verdict> {
        self.verdicts.pop_front()
    }

    /// Copies into `buf` what the library may read now, never past the end
    /// of the current message.
    pub fn read(&mut self, buf: &mut [u8]) -> Read {
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
            self.advance();
        }
        if self.sent < self.output.len() {
            let n = buf.len().min(self.output.len() - self.sent);
            buf[..n].copy_from_slice(&self.output[self.sent..self.sent + n]);
            self.sent += n;
            return Read::Bytes(n);
        }
        match self.state {
            State::Refused => Read::Stalled,
            State::Failed(why) => Read::Failed(why),
            _ => Read::NeedInput,
        }
    }

    fn advance(&mut self) {
        match &mut self.state {
            State::Head => self.advance_head(),
            State::Fixed(left) => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(self.input.len());
                self.output.extend(self.input.drain(..n));
                *left -= n as u64;
                if *left == 0 {
                    self.state = State::Head;
                }
            }
            State::Chunked(body) => {
                let raw = self.mode == Mode::Raw;
                match body.feed(&self.input, raw, &mut self.output) {
                    Ok(n) => {
                        self.input.drain(..n);
                        if body.is_done() {
                            self.state = State::Head;
                        }
                    }
                    Err(why) => {
                        self.input.clear();
                        self.state = State::Failed(why);
                    }
                }
            }
            State::Passthrough => self.output.append(&mut self.input),
            State::Refused | State::Failed(_) => {}
        }
    }

    fn advance_head(&mut self) {
        if self.input.is_empty() {
            return;
        }
        if self.fresh && self.mode == Mode::Raw {
            let n = self.input.len().min(H2_PREFACE.len());
            if self.input[..n] == H2_PREFACE[..n] {
                if n == H2_PREFACE.len() {
                    self.state = State::Passthrough;
                    self.output.append(&mut self.input);
                }
                return;
            }
        }
        // A head trickling in is parsed again only once it may be whole (a
        // blank line arrived) or too large, not at every byte: that would
        // cost the square of its length. Its first bytes are parsed at
        // once, so that what is not HTTP is refused without waiting.
        let from = self.scanned.saturating_sub(2);
        let may_end = self.input[from..]
            .windows(2)
            .any(|w| w == b"\n\n" || w == b"\n\r");
        let first = self.scanned == 0;
        self.scanned = self.input.len();
        if !(first || may_end || self.input.len() >= MAX_HEAD_BYTES) {
            return;
        }
        match head::parse(&self.input) {
            Parsed::Partial => {}
            Parsed::Refused(refusal) => {
                self.fresh = false;
                self.input.clear();
                self.output
                    .extend_from_slice(self.synthetic(refusal.version()).as_bytes());
                self.verdicts.push_back(Verdict::Refuse(refusal));
                self.state = State::Refused;
            }
            Parsed::Done { head, len } => {
                self.fresh = false;
                match self.mode {
                    Mode::Raw => self.output.extend_from_slice(&self.input[..len]),
                    Mode::Canonical => self.output.extend_from_slice(canonical(&head).as_bytes()),
                }
                self.input.drain(..len);
                self.scanned = 0;
                self.state = match head.body {
                    Body::Empty | Body::Length(0) => State::Head,
                    Body::Length(n) => State::Fixed(n),
                    Body::Chunked => State::Chunked(Chunked::new()),
                };
                self.verdicts.push_back(Verdict::Serve(head));
            }
        }
    }

    /// The request the library answers in place of a refused one.
    fn synthetic(&self, version: Version) -> String {
        match self.mode {
            Mode::Raw => format!("GET / {}\r\n\r\n", version.as_str()),
            Mode::Canonical => "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        }
    }
}

/// What async-h1 needs to frame the exchange, and nothing it could refuse.
fn canonical(head: &Head) -> String {
    let method = if head.head_only { "HEAD" } else { "GET" };
    let mut out = format!("{method} / HTTP/1.1\r\nHost: localhost\r\n");
    match head.body {
        Body::Empty => {}
        Body::Length(n) => out.push_str(&format!("Content-Length: {n}\r\n")),
        Body::Chunked => out.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if head.expect_continue {
        out.push_str("Expect: 100-continue\r\n");
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the library reads, one `read` call at a time with a
    /// buffer of `cap` bytes, until the gate needs input or stalls.
    fn drain(g: &mut Gate, cap: usize) -> (Vec<Vec<u8>>, Read) {
        let mut reads = Vec::new();
        let mut buf = vec![0u8; cap];
        loop {
            match g.read(&mut buf) {
                Read::Bytes(n) => reads.push(buf[..n].to_vec()),
                other => return (reads, other),
            }
        }
    }

    fn serve(v: Option<Verdict>) -> Head {
        match v {
            Some(Verdict::Serve(h)) => *h,
            other => panic!("expected a served head, got {other:?}"),
        }
    }

    #[test]
    fn a_read_never_spans_two_messages() {
        let a = "POST /v1/grants HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
        let b = "GET /pingLicenseManager HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut g = Gate::new(Mode::Raw);
        g.push(format!("{a}{b}").as_bytes());
        let (reads, end) = drain(&mut g, 64 * 1024);
        assert_eq!(end, Read::NeedInput);
        let split = a.len() - 2;
        assert_eq!(
            reads,
            vec![
                a.as_bytes()[..split].to_vec(),
                b"{}".to_vec(),
                b.as_bytes().to_vec()
            ]
        );
        assert_eq!(serve(g.next_verdict()).path, "/v1/grants");
        assert_eq!(serve(g.next_verdict()).path, "/pingLicenseManager");
        assert_eq!(g.next_verdict(), None);
    }

    #[test]
    fn a_smuggled_request_is_never_a_head() {
        let attack = "POST /v1/grants HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
                      Content-Length: 4\r\n\r\n0\r\n\r\nDELETE /v1/admin/grants/x HTTP/1.1\r\nHost: a\r\n\r\n";
        for mode in [Mode::Raw, Mode::Canonical] {
            let mut g = Gate::new(mode);
            g.push(attack.as_bytes());
            let (reads, end) = drain(&mut g, 8192);
            assert_eq!(end, Read::Stalled);
            assert_eq!(reads.len(), 1);
            assert!(reads[0].starts_with(b"GET / HTTP/1.1\r\n"));
            let Some(Verdict::Refuse(r)) = g.next_verdict() else {
                panic!("refused")
            };
            assert_eq!(r.status(), 400);
            assert_eq!(g.next_verdict(), None);
            g.push(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(drain(&mut g, 8192), (vec![], Read::Stalled));
        }
    }

    #[test]
    fn canonical_heads_for_async_h1() {
        let mut g = Gate::new(Mode::Canonical);
        g.push(b"GET http://x/pingLicenseManager HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        g.push(b"POST /v1/grants HTTP/1.1\r\nHost: a/b\r\n\r\n");
        let (reads, _) = drain(&mut g, 8192);
        assert_eq!(reads[0], b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let h = serve(g.next_verdict());
        assert_eq!((h.version, h.keep_alive), (Version::Http10, true));
        assert_eq!(h.path, "/pingLicenseManager");
        assert!(matches!(g.next_verdict(), Some(Verdict::Refuse(_))));
    }

    #[test]
    fn chunked_bodies_are_re_encoded_for_async_h1() {
        let mut g = Gate::new(Mode::Canonical);
        g.push(b"HEAD /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        g.push(b"2;ext\r\n{}\r\n0\r\nT: 1\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n");
        let (reads, _) = drain(&mut g, 8192);
        assert_eq!(
            reads,
            vec![
                b"HEAD / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec(),
                b"2\r\n{}\r\n0\r\n\r\n".to_vec(),
                b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            ]
        );
    }

    #[test]
    fn heads_arrive_in_pieces() {
        let mut g = Gate::new(Mode::Raw);
        let head = b"GET /pingLicenseManager HTTP/1.1\r\nHost: a\r\n\r\n";
        for b in &head[..head.len() - 1] {
            g.push(&[*b]);
            assert_eq!(drain(&mut g, 8192), (vec![], Read::NeedInput));
            assert!(g.holds_partial_head());
        }
        g.push(b"\n");
        assert_eq!(drain(&mut g, 8192).0, vec![head.to_vec()]);
        assert!(!g.holds_partial_head());
    }

    #[test]
    fn a_trickled_head_is_refused_when_too_large_and_garbage_at_once() {
        let mut g = Gate::new(Mode::Raw);
        g.push(b"GET / HTTP/1.1\r\nX: ");
        for _ in 0..MAX_HEAD_BYTES {
            if g.read(&mut [0u8; 64]) != Read::NeedInput {
                break;
            }
            g.push(b"a");
        }
        assert!(matches!(g.next_verdict(), Some(Verdict::Refuse(r)) if r.status() == 431));
        let mut g = Gate::new(Mode::Raw);
        g.push(b"\x16\x03");
        assert_eq!(drain(&mut g, 8192).1, Read::Stalled);
    }

    #[test]
    fn http2_preface_passes_through_raw_only() {
        let mut g = Gate::new(Mode::Raw);
        g.push(&H2_PREFACE[..10]);
        assert_eq!(drain(&mut g, 8192), (vec![], Read::NeedInput));
        g.push(&H2_PREFACE[10..]);
        g.push(b"\x00\x00");
        assert_eq!(
            drain(&mut g, 8192).0.concat(),
            [H2_PREFACE, b"\x00\x00"].concat()
        );
        assert_eq!(g.next_verdict(), None);
        let mut g = Gate::new(Mode::Canonical);
        g.push(H2_PREFACE);
        assert_eq!(drain(&mut g, 8192).1, Read::Stalled);
    }

    #[test]
    fn broken_chunks_fail_the_body() {
        let mut g = Gate::new(Mode::Raw);
        g.push(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        let (reads, end) = drain(&mut g, 8192);
        assert_eq!(reads.len(), 1);
        assert!(matches!(end, Read::Failed(_)));
    }
}
