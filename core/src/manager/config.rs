use std::time::Duration;

/// Manager settings that shape grants. Grace comes from the license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagerConfig {
    pub lease_ttl: Duration,
    pub renew_every: Duration,
    /// Added to grace before a silent grant is reclaimed: covers a component
    /// whose clock runs slower than storage's (M2).
    pub reclaim_margin: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(900),
            renew_every: Duration::from_secs(300),
            reclaim_margin: Duration::from_secs(600),
        }
    }
}
