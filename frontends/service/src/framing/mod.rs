//! HTTP/1 framing, decided once for both servers (section 6.1).
//!
//! Each server puts a [`Gate`] between the socket (after TLS) and its HTTP
//! library (hyper on tokio, async-h1 on smol). The gate reads every request
//! head itself, checks it with [`head::parse`], and hands the library only
//! what it has checked, one message at a time:
//!
//! - a head that passes goes on (as received for hyper; as a canonical head
//!   for async-h1, which cannot read HTTP/1.0, needs a `Host` and builds its
//!   URL from it), and its [`Head`] (version, method, target, keep-alive,
//!   the headers the service reads) is queued as a [`Verdict::Serve`];
//! - a head that is refused never reaches the library: a small synthetic
//!   request goes on in its place and a [`Verdict::Refuse`] is queued, so
//!   the library answers it in order behind the answers it still owes, with
//!   the refusal's JSON body and `Connection: close`, and then closes;
//! - body bytes go on only up to the end of the message the head declared
//!   (`Content-Length`, or the end of the chunked body), so a library never
//!   reads past one message and a smuggled request in a body is never taken
//!   for a head.
//!
//! The request handler of each server takes the verdicts in order
//! ([`Gate::next_verdict`]), one per request the library passes it.

pub mod head;

mod chunked;
mod gate;
mod target;

pub use gate::{Gate, Mode, Read, Verdict};
pub use head::{Body, Head, Refusal, Version};

/// The largest request head either server reads (request line and headers).
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// The most header fields in one head (hyper's own default).
pub const MAX_HEADERS: usize = 100;
