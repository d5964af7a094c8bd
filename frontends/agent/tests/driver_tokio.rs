//! The driver on tokio (reqwest) against a fake manager over real HTTP.

mod support;

use std::sync::Arc;
use support::cases;
use tenure_agent::Runtime;
use tenure_agent::runtime::{TokioRuntime, default_runtime};

fn runtime() -> Arc<dyn Runtime> {
    Arc::new(TokioRuntime::current().expect("inside a tokio runtime"))
}

macro_rules! on_tokio {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                cases::$case(runtime()).await
            }
        )*
    };
}

every_case!(on_tokio);

#[tokio::test]
async fn inside_tokio_the_default_runtime_is_tokio() {
    let rt = default_runtime().expect("a runtime");
    assert!(format!("{rt:?}").starts_with("TokioRuntime"), "{rt:?}");
}
