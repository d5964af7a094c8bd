//! The OpenAPI document (`docs/openapi.yaml`) kept true: schemathesis (from
//! PyPI, installed by `scripts/setup-schemathesis.sh`) generates requests from
//! it against a live server and checks every answer against it.
//!
//! Two checks are left out, each for a reason the document cannot express:
//! `positive_data_acceptance` on `PUT /v1/license` (a schema-valid text is not
//! a validly signed license), and `ensure_resource_availability` (a later
//! grant for the same instance legitimately replaces an earlier one, M3).

use crate::support::server::ADMIN_TOKEN;
use crate::support::{Bin, Fixture, Launch, Server, note};
use std::path::{Path, PathBuf};
use std::process::Command;
use tenure_testkit::Need;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

const NOT_INSTALLED: &str =
    "schemathesis is not installed (run scripts/setup-schemathesis.sh or set TENURE_SCHEMATHESIS)";

/// What the document's case needs beyond the server.
pub const SCHEMATHESIS: Need = Need::Other("schemathesis", || {
    schemathesis().map(drop).ok_or_else(|| NOT_INSTALLED.into())
});

fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("TENURE_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv-schemathesis/bin/schemathesis"));
    path.is_file().then_some(path)
}

fn run(st: &Path, server: &Server, extra: &[&str]) {
    let spec = workspace().join("docs/openapi.yaml");
    let out = Command::new(st)
        .arg("run")
        .arg(&spec)
        .args(["--url", &server.url, "--checks", "all"])
        .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .args(["--max-examples", "15", "--seed", "7", "--workers", "1"])
        .args(["--request-timeout", "10", "--max-failures", "5"])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", st.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found the server and docs/openapi.yaml disagree:\n{text}\n{}\nserver stderr:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("generated"))
        .unwrap_or("");
    note(&format!("schemathesis {extra:?}: {}", summary.trim()));
}

pub fn schemathesis_agrees_with_the_document(bin: &Bin) {
    let st = schemathesis().unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
    let fixture = Fixture::standard("conf-openapi-1");
    let server = Server::start(bin, Launch::new(&fixture));
    run(
        &st,
        &server,
        &[
            "--exclude-path",
            "/v1/license",
            "--exclude-path",
            "/v1/reports/usage",
            "--exclude-checks",
            "ensure_resource_availability",
        ],
    );
    run(
        &st,
        &server,
        &[
            "--include-path",
            "/v1/license",
            "--include-path",
            "/v1/reports/usage",
            "--exclude-checks",
            // Any armoured text but a signed license is refused, and so is
            // a report span out of order or too long: no schema says so.
            "positive_data_acceptance",
        ],
    );
}
