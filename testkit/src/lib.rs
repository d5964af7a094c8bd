//! Tenure's test kit: one rule for tests that need a service (a database
//! server, a proxy, a browser, libfaketime), and the small helpers the test
//! suites share.
//!
//! The rule: a test that needs a service fails loudly when `CI=true` and the
//! service is missing; outside CI it is reported as ignored, never as
//! passed. libtest cannot mark a test ignored once the binary runs, so a
//! test target that needs services sets `harness = false` and lists its
//! trials with [`trial`] and [`run`] (on `libtest-mimic`, which keeps
//! `cargo test -- NAME`, `--skip`, `--list` and `--include-ignored`):
//!
//! ```no_run
//! use tenure_testkit::{Need, run, trial};
//! fn main() -> std::process::ExitCode {
//!     run(vec![
//!         trial("grants_on_postgres", &[Need::Postgres], || { /* ... */ }),
//!         trial("grants_in_memory", &[], || { /* ... */ }),
//!     ])
//! }
//! ```
//!
//! Each need of the listed trials is probed once before any trial runs. A
//! trial with a missing need is, outside CI, ignored (and the reason printed
//! once per need); under `CI=true` it runs only to fail with the reason.
//! With `--include-ignored` outside CI it also fails with the reason: the
//! service is still missing.
//!
//! Some tests learn of a missing piece only once they run (a private
//! PostgreSQL cluster that would not start). Their bodies return
//! `Result<(), Unavailable>`. libtest-mimic decides "ignored" before a trial
//! runs, so such a trial cannot become ignored: it fails, in CI and outside
//! it, with a message that names the missing piece. Declare what can be
//! probed as a [`Need`] so that only a broken set-up reaches that path.
//!
//! With the `models` feature the kit also holds the reference models of the
//! agent and of the manager's decisions ([`models`]), shared by the core's
//! property tests and the fuzz targets.

#[cfg(feature = "models")]
pub mod models;
mod need;
mod port;

pub use libtest_mimic::Trial;
pub use need::{Need, built, libfaketime, mysql_url, pg_bin, postgres_url, program};
pub use port::{free_port, listening_addr, listening_url};

use std::collections::BTreeMap;
use std::process::ExitCode;

/// Whether this run is CI's, where a missing service is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A service found missing only while the test ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub what: String,
    pub why: String,
}

/// `what` is missing, because `why`.
pub fn unavailable(what: impl Into<String>, why: impl Into<String>) -> Unavailable {
    Unavailable {
        what: what.into(),
        why: why.into(),
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is unavailable: {}", self.what, self.why)
    }
}

impl std::error::Error for Unavailable {}

/// What a trial's body may return: nothing, or whether what it needed was
/// there.
pub trait Outcome {
    fn into_outcome(self) -> Result<(), Unavailable>;
}

impl Outcome for () {
    fn into_outcome(self) -> Result<(), Unavailable> {
        Ok(())
    }
}

impl Outcome for Result<(), Unavailable> {
    fn into_outcome(self) -> Result<(), Unavailable> {
        self
    }
}

/// How a trial is listed and what it does when run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Run,
    Ignore(Unavailable),
    Fail(Unavailable),
}

fn plan(ci: bool, missing: Option<Unavailable>) -> Plan {
    match missing {
        None => Plan::Run,
        Some(u) if ci => Plan::Fail(u),
        Some(u) => Plan::Ignore(u),
    }
}

fn fail_message(ci: bool, u: &Unavailable, found_while_running: bool) -> String {
    if ci {
        format!(
            "{} is required when CI=true but is unavailable: {}",
            u.what, u.why
        )
    } else if found_while_running {
        format!(
            "{} is unavailable: {} (found only while the test ran, so it cannot be \
             reported as ignored)",
            u.what, u.why
        )
    } else {
        format!("{} is unavailable: {}", u.what, u.why)
    }
}

/// Each need's probe result, by name, so a need is probed once per run.
type Probes = BTreeMap<String, Result<(), String>>;

/// A trial not yet run: [`run`] probes its needs before building it.
#[must_use = "a pending trial runs only when passed to `run`"]
pub struct Pending {
    name: String,
    needs: Vec<Need>,
    on_request: bool,
    body: Box<dyn FnOnce() -> Result<(), Unavailable> + Send>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("name", &self.name)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Runs only when asked for (`--ignored` or `--include-ignored`), as
    /// `#[ignore]` does: for a child process the test binary runs itself as.
    pub fn ignored(mut self) -> Self {
        self.on_request = true;
        self
    }
}

/// A test named `name` that needs `needs`. A panic in `body` fails it.
pub fn trial<O: Outcome>(
    name: impl Into<String>,
    needs: &[Need],
    body: impl FnOnce() -> O + Send + 'static,
) -> Pending {
    Pending {
        name: name.into(),
        needs: needs.to_vec(),
        on_request: false,
        body: Box::new(move || body().into_outcome()),
    }
}

/// Runs `trials` as libtest would, under the kit's rule for missing needs.
pub fn run(trials: Vec<Pending>) -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let ci = in_ci();
    let mut probes = Probes::new();
    let mut ignored: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut built = Vec::with_capacity(trials.len());
    for t in trials {
        let missing = first_missing(&t.needs, &mut probes);
        let plan = plan(ci, missing);
        if let Plan::Ignore(u) = &plan {
            ignored
                .entry(u.what.clone())
                .or_insert((u.why.clone(), 0))
                .1 += 1;
        }
        built.push(build(t, plan, ci));
    }
    if !args.list {
        for (what, (why, n)) in &ignored {
            eprintln!(
                "ignored: {n} test(s) need {what}, which is unavailable ({why}); \
                 set CI=true to make this a failure"
            );
        }
    }
    libtest_mimic::run(&args, built).exit_code()
}

fn first_missing(needs: &[Need], probes: &mut Probes) -> Option<Unavailable> {
    needs.iter().find_map(|need| {
        let name = need.name();
        let result = probes.entry(name.clone()).or_insert_with(|| need.probe());
        result.clone().err().map(|why| unavailable(name, why))
    })
}

fn build(t: Pending, plan: Plan, ci: bool) -> Trial {
    let Pending {
        name,
        body,
        on_request,
        ..
    } = t;
    match plan {
        Plan::Run => Trial::test(name, move || {
            body().map_err(|u| fail_message(ci, &u, true).into())
        })
        .with_ignored_flag(on_request),
        Plan::Ignore(u) => Trial::test(name, move || Err(fail_message(false, &u, false).into()))
            .with_ignored_flag(true),
        Plan::Fail(u) => Trial::test(name, move || Err(fail_message(true, &u, false).into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg_down() -> Unavailable {
        unavailable("PostgreSQL", "127.0.0.1:5432: connection refused")
    }

    #[test]
    fn a_met_need_runs_in_and_out_of_ci() {
        assert_eq!(plan(false, None), Plan::Run);
        assert_eq!(plan(true, None), Plan::Run);
    }

    #[test]
    fn a_missing_need_is_ignored_outside_ci_and_fails_in_it() {
        assert_eq!(plan(false, Some(pg_down())), Plan::Ignore(pg_down()));
        assert_eq!(plan(true, Some(pg_down())), Plan::Fail(pg_down()));
    }

    #[test]
    fn failures_name_the_service_and_the_rule() {
        let ci = fail_message(true, &pg_down(), false);
        assert!(ci.contains("PostgreSQL is required when CI=true"), "{ci}");
        let late = fail_message(false, &pg_down(), true);
        assert!(late.contains("cannot be reported as ignored"), "{late}");
    }

    #[test]
    fn a_need_is_probed_once() {
        static PROBED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        fn probe() -> Result<(), String> {
            PROBED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err("absent".into())
        }
        let mut probes = Probes::new();
        let need = [Need::Other("thing", probe)];
        assert_eq!(
            first_missing(&need, &mut probes),
            Some(unavailable("thing", "absent"))
        );
        assert!(first_missing(&need, &mut probes).is_some());
        assert_eq!(PROBED.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
