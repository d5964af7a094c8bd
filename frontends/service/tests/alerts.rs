//! docs/alerts.yml is valid Prometheus alerting rules (`promtool check
//! rules`), and each alert fires on the series that should raise it and on
//! no healthy one (`promtool test rules docs/alerts/tests.yml`). promtool
//! comes with Debian's `prometheus` package (`.ci/setup-services.sh`).

use std::path::Path;
use std::process::Command;
use tenure_testkit::{Need, trial};

fn docs() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs"))
}

/// `promtool ARGS` in docs/. Trials declare promtool as a need, so a
/// failure to start it here is a broken set-up.
fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .current_dir(docs())
        .output()
        .unwrap_or_else(|e| panic!("promtool {args:?}: {e}"))
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn the_alerting_rules_are_valid() {
    let out = promtool(&["check", "rules", "alerts.yml"]);
    assert_ok(&out, "promtool check rules docs/alerts.yml");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("SUCCESS: 10 rules found"), "{said}");
}

fn each_alert_fires_when_it_should_and_not_otherwise() {
    let out = promtool(&["test", "rules", "alerts/tests.yml"]);
    assert_ok(&out, "promtool test rules docs/alerts/tests.yml");
}

fn main() -> std::process::ExitCode {
    tenure_testkit::run(vec![
        trial(
            "the_alerting_rules_are_valid",
            &[Need::Program("promtool")],
            the_alerting_rules_are_valid,
        ),
        trial(
            "each_alert_fires_when_it_should_and_not_otherwise",
            &[Need::Program("promtool")],
            each_alert_fires_when_it_should_and_not_otherwise,
        ),
    ])
}
