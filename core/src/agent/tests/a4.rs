//! A4: only a Tenure answer decides. Denials stop at once, `unknown_grant`
//! re-grants, and everything else (a proxy's page, any 5xx, 401, 407, 429)
//! is retried while grace counts.

use super::*;

/// Every answer from something in between that must never decide.
const FOREIGN: [u16; 8] = [401, 403, 404, 407, 429, 500, 502, 503];

/// Every answer that must never decide, named: the foreign pages, and a
/// manager's own fault (500 `internal`, a Tenure body): any 5xx means the
/// manager is unreachable for now, whatever its body says.
fn never_deciding() -> Vec<(String, Result<Response, TransportError>)> {
    let mut answers: Vec<_> = FOREIGN
        .iter()
        .map(|s| (format!("HTML {s}"), foreign(*s)))
        .collect();
    answers.push(("500 internal".into(), tenure(500, ErrorCode::Internal)));
    answers
}

#[test]
fn a4_first_grant_refused_by_a_tenure_denial_stops_at_once() {
    let denied = |code| StopReason::Denied { code };
    let cases = [
        (
            tenure(403, ErrorCode::ServersExceeded),
            denied(ErrorCode::ServersExceeded),
        ),
        (
            tenure(403, ErrorCode::CoresExceeded),
            denied(ErrorCode::CoresExceeded),
        ),
        (
            tenure(403, ErrorCode::EnvironmentNotLicensed),
            denied(ErrorCode::EnvironmentNotLicensed),
        ),
        (
            tenure(403, ErrorCode::ProductNotLicensed),
            denied(ErrorCode::ProductNotLicensed),
        ),
        (
            tenure(400, ErrorCode::BadRequest),
            denied(ErrorCode::BadRequest),
        ),
        (
            tenure(403, ErrorCode::LicenseExpired),
            StopReason::LicenseExpired,
        ),
        (tenure(403, ErrorCode::Revoked), StopReason::Revoked),
        (tenure(403, ErrorCode::Replaced), StopReason::Replaced),
    ];
    for (result, reason) in cases {
        let mut rig = Rig::new(2, 3);
        let t = rig.one();
        rig.answer(&t, result);
        assert_eq!(rig.agent.state(), &State::Stopped(reason));
        assert_eq!(rig.events(), vec![Event::MustStop(reason)]);
        assert!(
            rig.transmits().is_empty(),
            "no retry and nothing to release"
        );
        assert_eq!(rig.agent.poll_timeout(), None);
    }
}

#[test]
fn a4_starting_retries_foreign_answers_silently() {
    for (seed, (name, answer)) in (1..).zip(never_deciding()) {
        let mut rig = Rig::new(1, seed);
        let mut t = rig.one();
        for _ in 0..5 {
            rig.answer(&t, answer.clone());
            assert_eq!(rig.agent.state(), &State::Starting, "{name}");
            let (next, waited) = rig.wake_until_transmit();
            assert!(waited <= Duration::from_secs(60));
            assert!(matches!(next.request, Request::Grant(_)));
            t = next;
        }
        assert!(rig.events().is_empty(), "{name}");
    }
}

#[test]
fn a4_starting_retries_configuration_codes_and_reports_them() {
    let cases = [
        (401, ErrorCode::Unauthorized),
        (403, ErrorCode::Forbidden),
        (404, ErrorCode::NotFound),
        (404, ErrorCode::UnknownGrant),
        (405, ErrorCode::MethodNotAllowed),
        (413, ErrorCode::PayloadTooLarge),
        (415, ErrorCode::UnsupportedMediaType),
    ];
    for (status, code) in cases {
        let mut rig = Rig::new(2, 4);
        let t = rig.one();
        rig.answer(&t, tenure(status, code));
        assert_eq!(rig.agent.state(), &State::Starting);
        assert_eq!(rig.events(), vec![Event::Rejected { status, code }]);
        // Like any failure: the next manager at once.
        let next = rig.one();
        assert_eq!(next.manager, 1);
        assert!(matches!(next.request, Request::Grant(_)));
        rig.answer(&next, granted(1, 300, 900, 432_000));
        assert_eq!(rig.events(), vec![Event::Started { grant_id: gid(1) }]);
    }
}

#[test]
fn a4_running_keeps_running_through_every_foreign_answer() {
    for (name, answer) in never_deciding() {
        let mut rig = Rig::new(1, 7);
        rig.licensed(300, 900, 432_000);
        for _ in 0..20 {
            let (t, _) = rig.wake_until_transmit();
            rig.answer(&t, answer.clone());
            assert!(rig.agent.is_running(), "{name}");
        }
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, Ok(Response::Released));
        assert!(rig.agent.is_running());
        let events = rig.events();
        assert!(
            events
                .iter()
                .all(|e| matches!(e, Event::GraceEntered { .. })),
            "{name}: {events:?}"
        );
    }
}

#[test]
fn a4_a_denial_body_without_json_media_type_decides_nothing() {
    let body = br#"{"error":"revoked","message":"gone"}"#;
    for content_type in [None, Some(&b"text/html"[..]), Some(b"text/plain")] {
        let mut rig = Rig::new(1, 8);
        rig.licensed(300, 900, 432_000);
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, Response::decode(403, content_type, None, body));
        assert!(rig.agent.is_running(), "{content_type:?}");
        assert!(rig.events().is_empty());
    }
    let mut rig = Rig::new(1, 8);
    rig.licensed(300, 900, 432_000);
    let (t, _) = rig.wake_until_transmit();
    let json = Some(&b"application/json; charset=utf-8"[..]);
    rig.answer(&t, Response::decode(403, json, None, body));
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::Revoked));
}

#[test]
fn a4_each_denial_stops_a_running_agent_at_once_with_its_reason() {
    for (code, reason) in DENIALS {
        let mut rig = Rig::new(2, 8);
        rig.licensed(300, 900, 432_000);
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, tenure(403, code));
        assert_eq!(rig.agent.state(), &State::Stopped(reason));
        assert!(!rig.agent.is_running());
        assert_eq!(rig.events(), vec![Event::MustStop(reason)]);
        assert!(rig.transmits().is_empty());
        assert_eq!(rig.agent.poll_timeout(), None);
        rig.agent.handle_timeout(rig.clock.now());
        rig.agent.stop(rig.clock.now());
        assert!(
            rig.transmits().is_empty() && rig.events().is_empty(),
            "final: no release of a grant the manager ended"
        );
    }
}

#[test]
fn a4_replaced_stops_in_grace_too() {
    let mut rig = Rig::new(1, 9);
    rig.licensed(60, 120, 7_200);
    // Fail until grace has begun, then hear `replaced`.
    while !matches!(rig.agent.state(), State::Grace { .. }) {
        rig.wake();
        for t in rig.transmits() {
            rig.answer(&t, Err(TransportError::Connect));
        }
    }
    rig.events();
    let (t, _) = rig.wake_until_transmit();
    rig.answer(&t, tenure(403, ErrorCode::Replaced));
    assert_eq!(rig.agent.state(), &State::Stopped(StopReason::Replaced));
    assert_eq!(rig.events(), vec![Event::MustStop(StopReason::Replaced)]);
}

#[test]
fn a4_a_limit_code_or_a_configuration_code_on_renewal_keeps_running() {
    for (status, code) in [
        (403, ErrorCode::ServersExceeded),
        (403, ErrorCode::Forbidden),
        (401, ErrorCode::Unauthorized),
        (400, ErrorCode::BadRequest),
        (404, ErrorCode::NotFound),
    ] {
        let mut rig = Rig::new(1, 10);
        rig.licensed(300, 900, 432_000);
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, tenure(status, code));
        assert!(rig.agent.is_running());
        assert_eq!(rig.events(), vec![Event::Rejected { status, code }]);
        let (next, _) = rig.wake_until_transmit();
        assert!(matches!(next.request, Request::Renew { .. }), "no re-grant");
    }
}

#[test]
fn a4_unknown_grant_regrants_at_once_running_on_from_the_last_success() {
    let mut rig = Rig::new(1, 9);
    rig.licensed(300, 900, 432_000);
    let since = lease(&rig.agent).since;
    assert_eq!(since.mono, rig.clock.mono);
    let (t, _) = rig.wake_until_transmit();
    rig.answer(&t, tenure(404, ErrorCode::UnknownGrant));
    assert!(rig.agent.is_running());
    assert_eq!(rig.agent.grant_id(), None, "the manager forgot it");
    assert_eq!(
        lease(&rig.agent).since,
        since,
        "grace still counts from the last success"
    );
    let regrant = rig.one();
    assert!(
        matches!(regrant.request, Request::Grant(_)),
        "re-grant at once"
    );
    // Unreachable: retry (still a grant request), keep running.
    rig.answer(&regrant, tenure(503, ErrorCode::StorageUnavailable));
    assert!(rig.agent.is_running());
    let (regrant, _) = rig.wake_until_transmit();
    assert!(matches!(regrant.request, Request::Grant(_)));
    rig.answer(&regrant, granted(2, 300, 900, 432_000));
    assert_eq!(rig.events(), vec![Event::Regranted { grant_id: gid(2) }]);
    assert_eq!(rig.agent.grant_id(), Some(gid(2)));
    let (renew, _) = rig.wake_until_transmit();
    assert!(matches!(renew.request, Request::Renew { grant_id, .. } if grant_id == gid(2)));
}

#[test]
fn a4_a_404_page_from_a_proxy_is_not_unknown_grant() {
    let mut rig = Rig::new(1, 11);
    rig.licensed(300, 900, 432_000);
    let (t, _) = rig.wake_until_transmit();
    rig.answer(&t, foreign(404));
    assert_eq!(rig.agent.grant_id(), Some(gid(1)), "still renewing");
    let (next, _) = rig.wake_until_transmit();
    assert!(matches!(next.request, Request::Renew { .. }));
}

#[test]
fn a4_regrant_refused_by_a_limit_stops_and_by_anything_else_retries() {
    let stop = [
        ErrorCode::ServersExceeded,
        ErrorCode::CoresExceeded,
        ErrorCode::ProductNotLicensed,
    ];
    for code in stop {
        let mut rig = Rig::new(1, 10);
        rig.licensed(300, 900, 432_000);
        let (t, _) = rig.wake_until_transmit();
        rig.answer(&t, tenure(404, ErrorCode::UnknownGrant));
        let regrant = rig.one();
        rig.answer(&regrant, tenure(403, code));
        let reason = StopReason::Denied { code };
        assert_eq!(rig.agent.state(), &State::Stopped(reason));
        assert_eq!(rig.events(), vec![Event::MustStop(reason)]);
    }
    // A running component's re-grant refused with 400 is not a licence
    // decision (I9): retried, reported.
    let mut rig = Rig::new(1, 10);
    rig.licensed(300, 900, 432_000);
    let (t, _) = rig.wake_until_transmit();
    rig.answer(&t, tenure(404, ErrorCode::UnknownGrant));
    let regrant = rig.one();
    rig.answer(&regrant, tenure(400, ErrorCode::BadRequest));
    assert!(rig.agent.is_running());
    assert_eq!(
        rig.events(),
        vec![Event::Rejected {
            status: 400,
            code: ErrorCode::BadRequest
        }]
    );
    let (again, _) = rig.wake_until_transmit();
    assert!(matches!(again.request, Request::Grant(_)));
}
