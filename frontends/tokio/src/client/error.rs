use tenure_core::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A bad URL or CA certificate: the agent's HTTP client is this one.
    #[error(transparent)]
    Setup(#[from] tenure_agent::ClientError),
    #[error("cannot read the admin token file {path}: {reason}")]
    Token { path: String, reason: String },
    /// The server answered with an error body: shown as `code: message`.
    #[error("{}: {}", .body.error, .body.message)]
    Api { status: u16, body: ErrorBody },
    /// An error status without a parsable error body (a proxy, most likely).
    #[error("HTTP {status}: {text}")]
    Status { status: u16, text: String },
    #[error("cannot reach the manager")]
    Transport(#[source] reqwest::Error),
    #[error("the manager's answer is not what this tool expects: {0}")]
    Decode(String),
}
