/// Why an agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no manager URL given")]
    NoManagers,
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot read random bytes from the operating system: {0}")]
    Entropy(String),
    /// `Agent::start` found no runtime to run on: outside a tokio runtime
    /// with only the `tokio` feature, or neither feature enabled.
    #[error(
        "no async runtime to run the agent on: call it inside a tokio runtime (feature `tokio`), enable feature `smol`, or use `Agent::start_on`"
    )]
    NoRuntime,
}

/// Why an HTTP client for the managers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot use CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error("{0:?} is not an http:// or https:// URL")]
    BadUrl(String),
}

impl ClientError {
    /// A CA certificate file that could not be used.
    pub fn ca_cert(path: &std::path::Path, reason: impl ToString) -> Self {
        Self::CaCert {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}
