//! What the agent's events mean to the person reading the log.

use std::time::Duration;
use tenure_core::agent::{Event, StopReason};

pub fn log_event(event: Event, instance: &str) {
    match event {
        // Grant ids are credentials: logs show their first 8 digits.
        Event::Started { grant_id } => tracing::info!(grant = %grant_id.short(), "licensed"),
        Event::Renewed { grant_id } => tracing::debug!(grant = %grant_id.short(), "renewed"),
        Event::Regranted { grant_id } => tracing::info!(
            grant = %grant_id.short(),
            "the manager had forgotten the grant; got a new one"
        ),
        Event::GraceEntered { remaining } => tracing::warn!(
            "no manager reachable: running on grace, must stop in {} unless one answers",
            human(remaining)
        ),
        Event::GraceOneDayLeft => {
            tracing::warn!("grace: one day left before the command is stopped")
        }
        Event::GraceOneHourLeft => {
            tracing::warn!("grace: one hour left before the command is stopped")
        }
        Event::Recovered { grant_id } => {
            tracing::warn!(grant = %grant_id.short(), "a manager answered again: grace is over")
        }
        Event::MustStop(reason) => tracing::error!("must stop: {}", describe(reason, instance)),
        // The driver logs these itself.
        Event::ClockStepped { .. } | Event::Rejected { .. } => {}
    }
}

pub fn describe(reason: StopReason, instance: &str) -> String {
    match reason {
        StopReason::Requested => "stop requested".into(),
        StopReason::GraceExpired => "no manager answered for the whole grace period".into(),
        StopReason::Revoked => "the grant was revoked by an administrator".into(),
        StopReason::LicenseExpired => "the license has expired".into(),
        StopReason::Replaced => format!(
            "another process claimed the instance {instance} and holds it now; \
             only the newest claimant runs"
        ),
        StopReason::Denied { code } => {
            format!(
                "the manager refused the grant ({} {code})",
                code.http_status()
            )
        }
    }
}

fn human(d: Duration) -> String {
    tenure_core::duration::format_duration(Duration::from_secs(d.as_secs()))
}
