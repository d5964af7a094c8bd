//! Tenure on smol: the `tenured-smol` server (`server`: async-h1 over
//! async-net, TLS through futures-rustls). The agent a component embeds is
//! the `tenure-agent` crate, with its `smol` feature.
//!
//! The rules live in `tenure-core` and `tenure-service`; this crate only owns
//! sockets, timers and threads.

pub mod server;
