//! Exit codes of `tenure-agent` (documented in docs/agent.md). Codes 0 to 63
//! and any code the command itself uses are passed through from the command.

use tenure_core::agent::StopReason;

/// Bad flags or arguments.
pub const USAGE: u8 = 64;
/// The first grant was refused: the command never started.
pub const NEVER_LICENSED: u8 = 69;
/// No manager answered for the whole grace period.
pub const GRACE_EXPIRED: u8 = 70;
/// An administrator revoked the grant.
pub const REVOKED: u8 = 71;
/// The license expired (`license_expired`).
pub const LICENSE_EXPIRED: u8 = 72;
/// A re-grant was refused while running (e.g. the pool is now full).
pub const DENIED: u8 = 73;
/// Another process claimed this instance and holds it now (403 `replaced`).
pub const REPLACED: u8 = 74;
/// The agent itself failed (its driver ended unexpectedly, no runtime).
pub const INTERNAL: u8 = 75;
/// Configuration that cannot be used: a bad URL, an unreadable CA certificate.
pub const CONFIG: u8 = 78;
/// The command exists but could not be executed.
pub const CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;
/// The command's own code when it finds, before it starts, that the agent
/// died while forking it: what the parent-death SIGKILL would have made it.
pub const PARENT_GONE: i32 = 128 + 9;
/// Plus the signal number: the command was killed by that signal, or the agent
/// got it before the command started.
pub const SIGNAL_BASE: u8 = 128;

/// The code for a stop the agent did not ask for. `started` tells a refused
/// first grant (the command never ran) from a refusal while running.
pub fn for_stop(reason: StopReason, started: bool) -> u8 {
    match reason {
        StopReason::GraceExpired => GRACE_EXPIRED,
        StopReason::Revoked => REVOKED,
        StopReason::LicenseExpired => LICENSE_EXPIRED,
        StopReason::Replaced => REPLACED,
        StopReason::Denied { .. } if !started => NEVER_LICENSED,
        StopReason::Denied { .. } => DENIED,
        StopReason::Requested => INTERNAL,
    }
}

pub fn for_signal(signal: i32) -> u8 {
    u8::try_from(signal)
        .ok()
        .and_then(|s| SIGNAL_BASE.checked_add(s))
        .unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_core::ErrorCode;

    #[test]
    fn each_stop_reason_has_its_documented_code() {
        let denied = StopReason::Denied {
            code: ErrorCode::ServersExceeded,
        };
        assert_eq!(for_stop(denied, false), NEVER_LICENSED);
        assert_eq!(for_stop(denied, true), DENIED);
        assert_eq!(for_stop(StopReason::GraceExpired, true), GRACE_EXPIRED);
        assert_eq!(for_stop(StopReason::Revoked, true), REVOKED);
        assert_eq!(for_stop(StopReason::LicenseExpired, true), LICENSE_EXPIRED);
        assert_eq!(for_stop(StopReason::Replaced, true), 74);
        assert_eq!(for_stop(StopReason::Replaced, false), 74);
    }
}
