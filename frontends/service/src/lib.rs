//! What both Tenure servers share and no runtime needs: routing, requests and
//! responses as plain data, tokens and roles, the web console, the metrics
//! registry, the heartbeat and sweep bodies, the command line, and the server
//! plan (`plan`: limits, timeouts, periodic work, the drain) each frontend's
//! runtime glue follows.

pub mod auth;
pub mod cli;
pub mod components;
pub mod config_file;
pub mod console;
pub mod demo;
pub mod framing;
pub mod http;
pub mod launch;
pub mod listen;
mod listing;
pub mod metrics;
pub mod node;
pub mod per_ip;
pub mod plan;
pub mod private_files;
pub mod query;
pub mod report_query;
mod reports;
pub mod route;
pub mod service;
pub mod settings;
pub mod startup;
pub mod tls;

pub use http::{Method, Request, Response};
pub use service::{Call, Env, Job, Prepared, Service};
