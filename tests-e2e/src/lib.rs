//! End-to-end tests of Tenure's active-passive HA set-up.
//!
//! Everything lives in `tests/`: two real managers (`tenured`, or
//! `tenured-smol` once it exists) on one shared PostgreSQL or MariaDB
//! database, HAProxy running `docs/ha/haproxy.cfg` itself, and a fleet of
//! `tenure-agent` processes wrapping real commands. Also the web console in
//! headless Chromium (`tests/console.rs`, `docs/console.md`). This library is
//! empty on purpose; see `tests/ha.rs` and `docs/operations.md`. The crate's
//! one binary, `tenure-storm`, is the renewal storm `scripts/storm.sh` runs.
