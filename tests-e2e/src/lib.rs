//! End-to-end tests of Tenure on real processes.
//!
//! Everything lives in `tests/`: real managers (`tenured`, `tenured-smol`) on
//! shared PostgreSQL or MariaDB databases, HAProxy and nginx running the files
//! in `docs/ha/` themselves, fleets of `tenure-agent` processes wrapping real
//! commands, the faults real deployments see (a proxy's HTML answers, a
//! host's wall clock stepping, a PostgreSQL primary killed and its standby
//! promoted), and the web console in headless Chromium (`tests/console.rs`).
//! This library is empty on purpose. Its binaries: `tenure-clock-probe`
//! prints the clocks a process sees (for libfaketime checks), and
//! `tenure-storm` is the renewal storm `scripts/storm.sh` runs.
