//! The vendor commands of the real `tenurectl` binary, on files in a temp dir.

use std::path::Path;
use std::process::{Command, Output};

const CTL: &str = env!("CARGO_BIN_EXE_tenurectl");

fn ctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(CTL)
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tenurectl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn keygen(dir: &Path, name: &str) {
    let o = ctl(
        dir,
        &[
            "keygen",
            "--secret-key",
            &format!("{name}.key"),
            "--public-key",
            &format!("{name}.pub"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

fn issue(dir: &Path, not_after: &str, limit: &str, out: &str) -> Output {
    ctl(
        dir,
        &[
            "issue",
            "--secret-key",
            "vendor.key",
            "--license-id",
            "ACME-2027-001",
            "--licensee",
            "Acme Corp",
            "--not-after",
            not_after,
            "--not-before",
            "2020-01-01T00:00:00Z",
            "--max-managers",
            "2",
            "--grace-period",
            "5d",
            "--limit",
            limit,
            "--limit",
            "staging/vdp:unlimited",
            "--out",
            out,
        ],
    )
}

fn verify(dir: &Path, key: &str, license: &str) -> Output {
    ctl(dir, &["verify", "--public-key", key, license])
}

const LIMIT: &str = "production/vdp:servers=4,cores-per-server=16,total-cores=48";

#[test]
fn keygen_issue_verify_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(d, "vendor");
    let mode = std::fs::metadata(d.join("vendor.key"))
        .expect("key")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let o = issue(d, "2099-12-31T00:00:00Z", LIMIT, "license.lic");
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(d, "vendor.pub", "license.lic");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for expected in [
        "ACME-2027-001",
        "Acme Corp",
        "2099-12-31T00:00:00Z",
        "max managers:  2",
        "grace period:  5d",
        "production/vdp: servers=4 cores-per-server=16 total-cores=48",
        "staging/vdp: servers=unlimited",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

#[test]
fn verify_refuses_tampered_wrongly_keyed_and_expired_licenses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(d, "vendor");
    keygen(d, "other");
    assert!(
        issue(d, "2099-12-31T00:00:00Z", LIMIT, "license.lic")
            .status
            .success()
    );

    let original = std::fs::read_to_string(d.join("license.lic")).expect("read");
    // Change one base64 character of the payload (the line after the blank line).
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    let body = lines.iter().position(|l| l.is_empty()).expect("blank line") + 1;
    let line = &mut lines[body];
    let c = if line.starts_with('e') { "f" } else { "e" };
    line.replace_range(0..1, c);
    std::fs::write(d.join("tampered.lic"), lines.join("\n") + "\n").expect("write");
    let o = verify(d, "vendor.pub", "tampered.lic");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("altered or forged"), "{}", text(&o));

    let o = verify(d, "other.pub", "license.lic");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("not among the trusted vendor keys"),
        "{}",
        text(&o)
    );
    // Trusting both keys finds the right one.
    let o = ctl(
        d,
        &[
            "verify",
            "--public-key",
            "other.pub",
            "--public-key",
            "vendor.pub",
            "license.lic",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    let o = issue(d, "2021-01-01T00:00:00Z", LIMIT, "old.lic");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("expired"), "issue warns: {}", text(&o));
    let o = verify(d, "vendor.pub", "old.lic");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("license expired at 2021-01-01T00:00:00Z"),
        "{}",
        text(&o)
    );
}

#[test]
fn verify_refuses_a_license_not_yet_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(d, "vendor");
    let o = ctl(
        d,
        &[
            "issue",
            "--secret-key",
            "vendor.key",
            "--license-id",
            "FUTURE",
            "--licensee",
            "A",
            "--not-before",
            "2098-01-01T00:00:00Z",
            "--not-after",
            "2099-01-01T00:00:00Z",
            "--limit",
            LIMIT,
            "--out",
            "future.lic",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(d, "vendor.pub", "future.lic");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("not valid before 2098-01-01T00:00:00Z"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_limits_are_refused_naming_the_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(d, "vendor");
    for (limit, part) in [
        ("production/vdp:servers=four", "\"servers=four\""),
        ("production/vdp:servers=0", "\"servers=0\""),
        ("production/vdp:cpus=4", "unknown limit \"cpus\""),
        (
            "production/vdp:servers=1,servers=2",
            "servers is given twice",
        ),
        ("production-vdp:servers=1", "expected ENV/PRODUCT"),
        ("production/v dp:servers=1", "product"),
        ("staging/vdp:servers=1", "already limited"),
    ] {
        let o = issue(d, "2099-12-31T00:00:00Z", limit, "bad.lic");
        assert!(!o.status.success(), "{limit} was accepted");
        assert!(
            text(&o).contains(part),
            "{limit}: {part:?} not in {}",
            text(&o)
        );
        assert!(!d.join("bad.lic").exists(), "{limit} wrote a license");
    }
}

#[test]
fn keygen_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(d, "vendor");
    let before = std::fs::read(d.join("vendor.key")).expect("read");
    std::fs::remove_file(d.join("vendor.pub")).expect("rm");
    let o = ctl(
        d,
        &[
            "keygen",
            "--secret-key",
            "vendor.key",
            "--public-key",
            "vendor.pub",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("refusing to overwrite"), "{}", text(&o));
    assert_eq!(std::fs::read(d.join("vendor.key")).expect("read"), before);
    assert!(!d.join("vendor.pub").exists(), "nothing half made");
}
