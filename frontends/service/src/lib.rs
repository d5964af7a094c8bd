//! What both Tenure servers share and no runtime needs: routing, requests and
//! responses as plain data, admin authentication, the metrics registry, the
//! heartbeat and sweep bodies, the command line, and the suspend meter both
//! agent drivers add to their monotonic clock.

pub mod auth;
pub mod cli;
pub mod config_file;
pub mod demo;
pub mod framing;
pub mod http;
pub mod listen;
mod listing;
pub mod metrics;
pub mod node;
pub mod query;
pub mod route;
pub mod service;
pub mod settings;
pub mod startup;
pub mod suspend;

pub use http::{Method, Request, Response};
pub use service::{Env, Job, Prepared, Service};
