//! Tenure's black-box HTTP conformance suite.
//!
//! Everything lives in `tests/`: it starts the server binary named by
//! `TENURE_SERVER_BIN` (or every `tenured` / `tenured-smol` found in the target
//! directory) and checks docs/protocol.md sections 6 and 7 over real sockets.
//! This library is empty; it exists so the package has a target.
