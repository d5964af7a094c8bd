//! A4 as docs/protocol.md states it, written out here rather than read from
//! the agent's own judge: which Tenure answers stop a component and why,
//! which make it ask for a new grant, and which decide nothing. The agent's
//! stop reason and its `Rejected` reports are checked against this table.

use super::*;

/// What one Tenure answer decides, by the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decides {
    Stop(StopReason),
    Regrant,
    /// Counts as unreachable. A 4xx is reported to the host as
    /// `Event::Rejected` (an operator must hear of a rotated token).
    Nothing {
        status: u16,
        code: ErrorCode,
    },
}

/// A4, and A1 for a first grant: `grant` tells a grant request from a
/// renewal, `starting` a first grant from a re-grant of a running component.
pub(super) fn decides(status: u16, code: ErrorCode, grant: bool, starting: bool) -> Decides {
    use ErrorCode as E;
    let stop = match (status, code) {
        (403, E::Revoked) => Some(StopReason::Revoked),
        (403, E::Replaced) => Some(StopReason::Replaced),
        (403, E::LicenseExpired) => Some(StopReason::LicenseExpired),
        (403, E::EnvironmentNotLicensed | E::ProductNotLicensed) => {
            Some(StopReason::Denied { code })
        }
        (403, E::ServersExceeded | E::CoresExceeded) if grant => Some(StopReason::Denied { code }),
        // A request that can never succeed, but only before the component
        // ever ran: a running one retries (a manager of another version).
        (400, E::BadRequest) if grant && starting => Some(StopReason::Denied { code }),
        _ => None,
    };
    match stop {
        Some(r) => Decides::Stop(r),
        None if status == 404 && code == E::UnknownGrant && !grant => Decides::Regrant,
        None => Decides::Nothing { status, code },
    }
}

impl World {
    /// What the answer to `id` now handed to component `c` decides, when the
    /// agent is sure to judge it: a manager's Tenure error answering the
    /// component's latest grant or renewal well within the request timeout,
    /// to an agent that has not stopped.
    pub(super) fn a4_due(
        &self,
        c: usize,
        id: RequestId,
        resp: &Result<Response, TransportError>,
    ) -> Option<Decides> {
        let Ok(Response::Error {
            status,
            body: Some(body),
            ..
        }) = resp
        else {
            return None;
        };
        let comp = &self.comps[c];
        let (ask, sent) = comp.last_ask?;
        let current = ask == id && self.t.saturating_add(SEC) < sent + AGENT_REQUEST_TIMEOUT_MS;
        let kind = comp
            .inflight
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, _, k)| *k)?;
        let state = comp.agent.as_ref().map(Agent::state)?;
        if !current || matches!(state, State::Stopped(_)) {
            return None;
        }
        let starting = matches!(state, State::Starting);
        Some(decides(*status, body.error, kind == Kind::Grant, starting))
    }

    /// The agent did what A4 says of the answer it judged: stopped for the
    /// reason the denial names, reported a 4xx that decides nothing, and
    /// stopped for nothing else.
    pub(super) fn check_a4(
        &mut self,
        c: usize,
        due: Option<Decides>,
        rejected: Option<(u16, ErrorCode)>,
        stop: Option<StopReason>,
    ) {
        let Some(due) = due else { return };
        if matches!(stop, Some(StopReason::GraceExpired | StopReason::Requested)) {
            return;
        }
        let wrong = match due {
            Decides::Stop(r) => stop != Some(r),
            Decides::Regrant => stop.is_some() || rejected.is_some(),
            Decides::Nothing { status, code } => {
                let report = (400..500).contains(&status).then_some((status, code));
                stop.is_some() || rejected != report
            }
        };
        if wrong {
            let msg = format!(
                "A4: c{c} was answered what decides {due:?}; the agent stopped {stop:?} and reported {rejected:?}"
            );
            self.verdicts.fail_agent_rule(self.t, msg);
        }
    }
}
