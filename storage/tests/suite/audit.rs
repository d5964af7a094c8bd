//! The audit trail (PROTOCOL 6.3) on every store: each audited action's row
//! is written by the action's own transaction, pages follow their cursor in
//! (time, number) order, and pruning deletes the oldest rows in batches.

use super::Backend;
use super::cases::{now, random, setup};
use super::fixtures::*;
use std::time::Duration;
use tenure_core::manager::ManagerConfig;
use tenure_core::wire::{AuditEntry, AuditResult, AuditRow};
use tenure_core::{ErrorCode, GrantId, UnixMillis};
use tenure_storage::{
    Actor, AuditCursor, InstallError, Installed, Keyed, Manager, StorageError, Store,
    instance_target,
};

fn trail<S: Store>(m: &Manager<S>) -> Vec<AuditRow> {
    m.read(|tx, _| tx.audit_page(UnixMillis(0), None, 1000))
        .expect("audit")
        .into_iter()
        .map(|k| k.row)
        .collect()
}

fn summary(rows: &[AuditRow]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|r| {
            let t = (&r.token_name, &r.action, &r.target, &r.result);
            (t.0.clone(), t.1.clone(), t.2.clone(), t.3.clone())
        })
        .collect()
}

fn row(token: &str, action: &str, target: &str, result: &str) -> (String, String, String, String) {
    (token.into(), action.into(), target.into(), result.into())
}

pub fn actions_leave_their_rows<B: Backend>(b: &B) {
    let m = setup(
        b,
        ManagerConfig::default(),
        432_000,
        limits(None, None, None),
    );
    let ops = Actor::new("ops");
    let a = m.grant(&request("vdp", "a", 1, 1), random()).expect("a");
    let before = now(&m);
    m.revoke_by(ops, a.grant_id).expect("revoke");
    // A failed action leaves its row and changes nothing else.
    let unknown = GrantId::from_random([0xab; 16]);
    let e = m.revoke_by(ops, unknown).expect_err("unknown");
    assert_eq!(e.code(), ErrorCode::NotFound);
    let usage = m
        .read(|tx, _| tx.usage_since(UnixMillis(0), 10))
        .expect("usage");
    assert_eq!(usage.len(), 1, "only a's revocation ended a grant");
    let b_req = request("vdp", "b", 2, 1);
    m.grant(&b_req, random()).expect("b");
    m.admin_release_by(Actor::new("alice"), &b_req.instance)
        .expect("release");
    let bad = m.install_license_by(ops, "not a license");
    assert!(matches!(bad, Err(InstallError::Invalid(_))), "{bad:?}");
    let t = now(&m);
    let pools = [("production", "vdp", limits(None, None, None))];
    let lic = license(
        "lic-2",
        t,
        t,
        UnixMillis(t.0 + 86_400_000),
        432_000,
        2,
        &pools,
    );
    let out = m.install_license_by(ops, &signed(&lic));
    assert!(matches!(out, Ok(Installed::Installed { .. })), "{out:?}");
    let rows = trail(&m);
    assert_eq!(
        summary(&rows),
        [
            row("ops", "revoke", &a.grant_id.to_string(), "ok"),
            row("ops", "revoke", &unknown.to_string(), "not_found"),
            row("alice", "release", &instance_target(&b_req.instance), "ok"),
            row("ops", "install_license", "-", "invalid"),
            row("ops", "install_license", "lic-2", "installed"),
        ]
    );
    assert_eq!(instance_target(&b_req.instance), "production/vdp/b:2");
    assert!(rows[3].detail.is_some(), "an invalid license says why");
    assert!(
        rows.iter()
            .all(|r| r.at_ms >= before.0 && r.at_ms <= t.0 + 1_000)
    );
    assert!(rows[0].at.ends_with('Z'), "{}", rows[0].at);
    // Unaudited calls (startup's install, tools) leave no row.
    m.revoke(GrantId::from_random([0xcd; 16]))
        .expect_err("unknown");
    assert_eq!(trail(&m).len(), 5);
}

pub fn rolled_back_rows_vanish<B: Backend>(b: &B) {
    let m = b.manager(ManagerConfig::default());
    let entry = AuditEntry::new("ops", "revoke", "x", AuditResult::Ok);
    let failed = m.store().transaction(&mut |tx| {
        tx.append_audit(UnixMillis(1_000), &entry)?;
        Err::<(), _>(StorageError::corrupt("the action failed"))
    });
    assert!(failed.is_err());
    assert!(trail(&m).is_empty(), "a rolled-back action leaves no row");
    // A refusal's own transaction.
    m.record(&AuditEntry::new(
        "-",
        "status",
        "GET /v1/status",
        AuditResult::Unauthorized,
    ));
    assert_eq!(
        summary(&trail(&m)),
        [row("-", "status", "GET /v1/status", "unauthorized")]
    );
}

pub fn pages_follow_the_cursor_and_prune_in_batches<B: Backend>(b: &B) {
    let m = b.manager(ManagerConfig::default());
    // Written out of time order: the trail is ordered by (time, number).
    for (at, target) in [(3_000, "d"), (1_000, "a"), (2_000, "b"), (2_000, "c")] {
        let e = AuditEntry::new("ops", "revoke", target, AuditResult::Ok);
        m.store()
            .transaction(&mut |tx| tx.append_audit(UnixMillis(at), &e))
            .expect("append");
    }
    let targets = |rows: &[AuditRow]| rows.iter().map(|r| r.target.clone()).collect::<Vec<_>>();
    assert_eq!(targets(&trail(&m)), ["a", "b", "c", "d"]);
    let mut paged = Vec::new();
    let mut after: Option<AuditCursor> = None;
    loop {
        let page = m
            .read(|tx, _| tx.audit_page(UnixMillis(2_000), after, 1))
            .expect("page");
        let Some(Keyed { cursor: at, row }) = page.into_iter().next() else {
            break;
        };
        assert!(after.is_none_or(|a| at > a), "{at} after {after:?}");
        let round: AuditCursor = at.to_string().parse().expect("cursor");
        after = Some(round);
        paged.push(row);
    }
    assert_eq!(
        targets(&paged),
        ["b", "c", "d"],
        "since 2000, one at a time"
    );
    let mut back = Vec::new();
    let mut before: Option<AuditCursor> = None;
    loop {
        let page = m
            .read(|tx, _| tx.audit_page_newest(before, 3))
            .expect("page");
        let full = page.len() == 3;
        for Keyed { cursor: at, row } in page {
            assert!(before.is_none_or(|b| at < b), "{at} before {before:?}");
            before = Some(at);
            back.push(row);
        }
        if !full {
            break;
        }
    }
    assert_eq!(
        targets(&back),
        ["d", "c", "b", "a"],
        "newest first, three at a time"
    );
    let pruned = m
        .store()
        .transaction(&mut |tx| tx.prune_audit(UnixMillis(2_500), 2))
        .expect("prune");
    assert_eq!(pruned, 2, "a batch at most");
    assert_eq!(targets(&trail(&m)), ["c", "d"], "oldest first");
    // The manager's pruning reads the storage clock: every row here is
    // far older than a day before it.
    b.advance(Duration::from_millis(5));
    let pruned = m
        .prune_audit(Duration::from_secs(86_400), 10)
        .expect("prune");
    assert_eq!(pruned, 2);
    assert!(trail(&m).is_empty());
}
