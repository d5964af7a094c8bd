//! A wall clock the test moves while the process runs: libfaketime (Debian
//! `libfaketime`, installed by .ci/setup-services.sh) preloaded with
//! `FAKETIME_TIMESTAMP_FILE` (the offset, e.g. `+259200`, read from a file)
//! and `FAKETIME_NO_CACHE=1` (the file is read at every clock call, so a new
//! offset takes effect at once: a step).
//!
//! `FAKETIME_DONT_FAKE_MONOTONIC=1` is essential: without it libfaketime 0.9.10
//! fakes CLOCK_MONOTONIC and CLOCK_BOOTTIME too (they then read like the wall
//! clock and step with it), and a "wall-clock step" would step every clock a
//! component has (T2 relies on the monotonic ones). With it both are left
//! alone; `check_monotonic_untouched` proves that with a probe for the exact
//! environment the tests use. One known gap of that mode: an absolute
//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` fails with EINVAL under
//! it (Python's `time.sleep` does that); neither tokio, smol, coreutils'
//! `sleep` nor PostgreSQL sleeps that way.

use super::note;
use nix::time::{ClockId, clock_gettime};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};

/// The preload library, preferring the variant for multi-threaded processes.
pub fn library() -> Result<PathBuf, String> {
    let found = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    match found {
        Some(p) => Ok(p),
        None => Err("libfaketime is not installed (.ci/setup-services.sh installs it)".into()),
    }
}

/// The wall-clock offset of the processes started with `env()`.
#[derive(Debug)]
pub struct FakeClock {
    lib: PathBuf,
    dir: tempfile::TempDir,
    offset_s: AtomicI64,
}

impl FakeClock {
    pub fn new(lib: &Path, offset_s: i64) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tenure-faketime-")
            .tempdir()
            .expect("temp dir");
        let clock = Self {
            lib: lib.to_path_buf(),
            dir,
            offset_s: AtomicI64::new(offset_s),
        };
        clock.set_offset(offset_s);
        clock
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("offset")
    }

    /// Environment for a process under this clock.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.lib.display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file().display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// Moves the wall clock of every process under this clock to real time
    /// plus `offset_s`, at once. Written aside and renamed, so that a reader
    /// never sees half a file (the directory may be world-readable for a
    /// process of another user, e.g. `postgres`).
    pub fn set_offset(&self, offset_s: i64) {
        let tmp = self.dir.path().join("offset.new");
        std::fs::write(&tmp, format!("{offset_s:+}\n")).expect("write the offset");
        std::fs::rename(&tmp, self.file()).expect("install the offset");
        self.offset_s.store(offset_s, Ordering::SeqCst);
    }

    pub fn offset_s(&self) -> i64 {
        self.offset_s.load(Ordering::SeqCst)
    }

    /// Lets another OS user (`postgres`) read the offset file.
    pub fn share(&self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::set_permissions(self.file(), std::fs::Permissions::from_mode(0o644));
    }
}

fn now_ns(id: ClockId) -> i128 {
    let t = clock_gettime(id).expect("clock_gettime");
    i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec())
}

/// What the probe saw under the fake clock.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// Its wall clock minus ours, in seconds.
    pub wall_lead_s: f64,
}

/// Runs `tenure-clock-probe` under `clock` and checks that its wall clock
/// is ours plus the offset (within a minute) while CLOCK_MONOTONIC and
/// CLOCK_BOOTTIME read what ours read around the run.
pub fn check_monotonic_untouched(clock: &FakeClock) -> Result<Probe, String> {
    let (mono0, boot0, wall0) = (
        now_ns(ClockId::CLOCK_MONOTONIC),
        now_ns(ClockId::CLOCK_BOOTTIME),
        now_ns(ClockId::CLOCK_REALTIME),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tenure-clock-probe"))
        .envs(clock.env())
        .output()
        .map_err(|e| format!("cannot run the clock probe: {e}"))?;
    let (mono1, boot1, wall1) = (
        now_ns(ClockId::CLOCK_MONOTONIC),
        now_ns(ClockId::CLOCK_BOOTTIME),
        now_ns(ClockId::CLOCK_REALTIME),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let read = |name: &str| -> Result<i128, String> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .ok_or_else(|| format!("the clock probe printed no {name}: {text:?}"))
    };
    let (wall, mono, boot) = (read("realtime")?, read("monotonic")?, read("boottime")?);
    if !(mono0..=mono1).contains(&mono) {
        return Err(format!(
            "libfaketime moved CLOCK_MONOTONIC: the probe read {mono} ns, outside [{mono0}, {mono1}]"
        ));
    }
    if !(boot0..=boot1).contains(&boot) {
        return Err(format!(
            "libfaketime moved CLOCK_BOOTTIME: the probe read {boot} ns, outside [{boot0}, {boot1}]"
        ));
    }
    let want = i128::from(clock.offset_s()) * 1_000_000_000;
    let lead = wall - (wall0 + wall1) / 2;
    if (lead - want).abs() > 60_000_000_000 {
        return Err(format!(
            "libfaketime did not move the wall clock by {} s: the probe leads by {} ms",
            clock.offset_s(),
            lead / 1_000_000
        ));
    }
    let probe = Probe {
        wall_lead_s: lead as f64 / 1e9,
    };
    note(&format!(
        "libfaketime probe: wall clock +{:.1} s, CLOCK_MONOTONIC and CLOCK_BOOTTIME untouched",
        probe.wall_lead_s
    ));
    Ok(probe)
}
