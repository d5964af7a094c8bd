//! Prints the clocks this process sees, one `NAME NANOSECONDS` line each:
//! `realtime`, `monotonic`, `boottime`. The tests run it under libfaketime to
//! check that a faked wall clock leaves the monotonic clocks alone (T2 relies
//! on CLOCK_MONOTONIC and CLOCK_BOOTTIME).

use nix::time::{ClockId, clock_gettime};
use std::process::ExitCode;

fn main() -> ExitCode {
    let clocks = [
        ("realtime", ClockId::CLOCK_REALTIME),
        ("monotonic", ClockId::CLOCK_MONOTONIC),
        ("boottime", ClockId::CLOCK_BOOTTIME),
    ];
    for (name, id) in clocks {
        match clock_gettime(id) {
            Ok(t) => {
                let ns = i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec());
                println!("{name} {ns}");
            }
            Err(e) => {
                eprintln!("clock_gettime({name}): {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
