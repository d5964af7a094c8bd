//! The driver on smol (async-h1) against a fake manager over real HTTP.

mod support;

use std::sync::Arc;
use support::cases;
use tenure_agent::Runtime;
use tenure_agent::runtime::{SmolRuntime, default_runtime};

macro_rules! on_smol {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                smol::block_on(cases::$case(Arc::new(SmolRuntime::global())))
            }
        )*
    };
}

every_case!(on_smol);

/// On a program's own executor, which it drives itself.
#[test]
fn on_an_executor_of_its_own() {
    let ex = Arc::new(smol::Executor::new());
    let rt: Arc<dyn Runtime> = Arc::new(SmolRuntime::on(ex.clone()));
    smol::block_on(
        ex.run(cases::starts_after_the_grant_renews_and_releases_on_stop(
            rt,
        )),
    );
}

#[test]
fn outside_tokio_the_default_runtime_is_smol() {
    let rt = default_runtime().expect("a runtime");
    assert!(format!("{rt:?}").starts_with("SmolRuntime"), "{rt:?}");
}
