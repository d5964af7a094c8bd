//! M11, §7.1: `serve` refuses to start on settings that break a rule, with a
//! one-line reason and exit status 1, before it binds or opens storage,
//! whether a setting comes from a flag, a `TENURE_*` variable or a
//! `--config` file.

use super::startup::assert_refused;
use crate::support::server::run_to_exit;
use crate::support::{Bin, Exited, Fixture, Launch};

/// Durations that break §7.1: (flag, value, what the reason names).
const BAD_DURATIONS: [(&str, &str, &str); 6] = [
    // Also the value that once went out as `renew_every_s: 0`.
    ("renew-every", "500ms", "renew_every"),
    ("renew-every", "1500ms", "whole seconds"),
    // Equal to the default renew_every (300 s): not greater.
    ("lease-ttl", "300s", "lease_ttl"),
    ("lease-ttl", "1m", "lease_ttl"),
    ("reclaim-margin", "59s", "reclaim_margin"),
    // Rows must outlive the days they are rolled up into (6.3).
    ("usage-retention", "2d", "usage_retention"),
];

#[derive(Debug, Clone, Copy)]
enum Source {
    Flag,
    Env,
    ConfigFile,
}

fn launch_with(fixture: &Fixture, source: Source, flag: &str, value: &str) -> Launch {
    let launch = Launch::new(fixture);
    match source {
        Source::Flag => launch.arg(&format!("--{flag}"), value),
        Source::Env => launch.env(
            &format!("TENURE_{}", flag.replace('-', "_").to_ascii_uppercase()),
            value,
        ),
        Source::ConfigFile => launch.config(&format!("{flag} = \"{value}\"\n")),
    }
}

/// A refusal as §7.1 wants it: exit status 1 (not a usage error's 2, not a
/// signal), the reason on one line, and nothing bound or opened.
fn assert_start_refused(exited: &Exited, about: &str, context: &str) {
    assert_refused(exited, about);
    assert_eq!(
        exited.status.code(),
        Some(1),
        "{context}: exit status; stderr:\n{}",
        exited.stderr
    );
    let reason: Vec<&str> = exited
        .stderr
        .lines()
        .filter(|l| l.starts_with("tenured:"))
        .collect();
    assert_eq!(
        reason.len(),
        1,
        "{context}: one `tenured: ...` line; stderr:\n{}",
        exited.stderr
    );
    assert!(
        !exited.stderr.contains("license in use"),
        "{context}: storage was opened before the refusal; stderr:\n{}",
        exited.stderr
    );
}

fn durations_refused(bin: &Bin, source: Source) {
    let fixture = Fixture::standard("conf-settings-1");
    for (flag, value, about) in BAD_DURATIONS {
        let context = format!("{flag} = {value} from {source:?}");
        let exited = run_to_exit(bin, launch_with(&fixture, source, flag, value));
        assert_start_refused(&exited, about, &context);
        assert!(
            exited.stderr.contains(&format!("--{flag}")),
            "{context}: the reason should name the flag; stderr:\n{}",
            exited.stderr
        );
    }
}

pub fn durations_refused_from_flags(bin: &Bin) {
    durations_refused(bin, Source::Flag);
}

pub fn durations_refused_from_env(bin: &Bin) {
    durations_refused(bin, Source::Env);
}

pub fn durations_refused_from_config_file(bin: &Bin) {
    durations_refused(bin, Source::ConfigFile);
}

/// §6.2, §7.1: a token file others may read is refused; 0640 (group read,
/// the documented `root:tenure` set-up) is not.
pub fn token_file_open_to_others_refused(bin: &Bin) {
    let fixture = Fixture::standard("conf-settings-2");
    for mode in [0o644, 0o604, 0o602] {
        let mut launch = Launch::new(&fixture);
        launch.token_mode = mode;
        let exited = run_to_exit(bin, launch);
        let context = format!("admin token file mode {mode:04o}");
        assert_start_refused(&exited, "admin token file", &context);
        assert!(
            exited.stderr.contains("open to others"),
            "{context}; stderr:\n{}",
            exited.stderr
        );
    }
    let mut launch = Launch::new(&fixture);
    launch.token_mode = 0o640;
    let served = crate::support::Server::start(bin, launch);
    assert_eq!(served.get("/pingLicenseManager").status, 200);
}

/// §7.1: a `--config` key that is no flag of `serve` (here the spelling of
/// the setting rather than of its flag) is refused, not ignored.
pub fn unknown_config_key_refused(bin: &Bin) {
    let fixture = Fixture::standard("conf-settings-3");
    let launch = Launch::new(&fixture).config("renew_every = \"60s\"\n");
    let exited = run_to_exit(bin, launch);
    assert_start_refused(&exited, "unknown key `renew_every`", "unknown config key");
}
