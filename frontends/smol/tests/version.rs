//! `--version` of tenured-smol names the binary, the version and the commit
//! it was built from, as git tells it.

use std::process::Command;

#[test]
fn tenured_smol_prints_version_and_commit() {
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let commit = match git {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => "unknown".to_owned(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tenured-smol"))
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(out.status.success(), "--version failed: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "tenured-smol {} (commit {commit})",
            env!("CARGO_PKG_VERSION")
        )
    );
}
