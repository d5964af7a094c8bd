use crate::token::ComponentToken;
use std::path::PathBuf;
use std::time::Duration;
use tenure_core::wire::GrantRequest;

/// How to run an agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Manager base URLs, tried in order (A6): one load balancer, or several managers.
    pub managers: Vec<String>,
    /// Identity and host facts sent with every grant request.
    pub request: GrantRequest,
    /// Bound on each HTTP request, and on `stop()`'s release.
    pub request_timeout: Duration,
    /// A PEM CA certificate to trust besides the web PKI roots.
    pub ca_cert: Option<PathBuf>,
    /// The jitter seed; `None` draws one from the OS so a fleet spreads out.
    pub seed: Option<u64>,
    /// Sent as `Authorization: Bearer` with every request when the managers
    /// require component tokens (M10); [`crate::Agent::set_token`] rotates it.
    pub token: Option<ComponentToken>,
}

impl AgentOptions {
    pub fn new(managers: Vec<String>, request: GrantRequest) -> Self {
        Self {
            managers,
            request,
            request_timeout: Duration::from_secs(10),
            ca_cert: None,
            seed: None,
            token: None,
        }
    }
}
