//! `--version` of tenured and tenurectl names the binary, the version and the
//! commit it was built from, as git tells it.

use std::process::Command;

fn head_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        // Built from a source tarball: the build says so.
        _ => "unknown".to_owned(),
    }
}

fn version_of(bin: &str) -> String {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(out.status.success(), "{bin} --version failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[test]
fn tenured_and_tenurectl_print_version_and_commit() {
    let commit = head_commit();
    for (name, bin) in [
        ("tenured", env!("CARGO_BIN_EXE_tenured")),
        ("tenurectl", env!("CARGO_BIN_EXE_tenurectl")),
    ] {
        let expected = format!("{name} {} (commit {commit})", env!("CARGO_PKG_VERSION"));
        assert_eq!(version_of(bin), expected);
    }
}
