//! The audited admin actions (PROTOCOL 6.3): revoke, release and license
//! install as an admin token asks for them, each recording its row in the
//! transaction that takes the action, and the trail's own upkeep.

use super::{InstallError, InstallPolicy, Installed, Manager, ManagerError};
use crate::port::{StorageError, Store};
use std::time::Duration;
use tenure_core::license::{LicenseError, Validity};
use tenure_core::wire::{AuditAction, AuditEntry, AuditResult, Instance};
use tenure_core::{ErrorCode, GrantId};

/// Rows one pruning transaction deletes at most: a backlog is worked off a
/// sweep at a time rather than in one long transaction.
pub const AUDIT_PRUNE_BATCH: usize = 1_000;

/// Who asks for an admin action: the token's name as the trail records it
/// (`tenure_core::wire::ANONYMOUS` for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    pub token_name: &'a str,
}

impl<'a> Actor<'a> {
    pub const fn new(token_name: &'a str) -> Self {
        Self { token_name }
    }
}

/// The row an ending action leaves, from its outcome.
pub(super) type EntryFor<'a> = dyn Fn(&Result<(), ManagerError>) -> AuditEntry + 'a;

fn ended(
    actor: Actor<'_>,
    action: AuditAction,
    target: String,
) -> impl Fn(&Result<(), ManagerError>) -> AuditEntry {
    move |out| {
        let entry = |r| AuditEntry::new(actor.token_name, action.as_str(), &target, r);
        match out {
            Ok(()) => entry(AuditResult::Ok),
            Err(e) if e.code() == ErrorCode::NotFound => entry(AuditResult::NotFound),
            Err(e) => entry(AuditResult::Failed).with_detail(e.to_string()),
        }
    }
}

/// An instance as the trail names it: `environment/product/host:port`.
pub fn instance_target(i: &Instance) -> String {
    format!("{}/{}/{}:{}", i.environment, i.product, i.hostname, i.port)
}

pub(super) fn installed(
    actor: Actor<'_>,
    offered: &str,
    out: &Result<Installed, Validity>,
) -> AuditEntry {
    let entry = |r| {
        AuditEntry::new(
            actor.token_name,
            AuditAction::InstallLicense.as_str(),
            offered,
            r,
        )
    };
    match out {
        Ok(Installed::Installed { .. }) => entry(AuditResult::Installed),
        Ok(Installed::KeptStored { license_id }) => {
            entry(AuditResult::KeptStored).with_detail(format!("storage keeps {license_id}"))
        }
        Err(v) => entry(AuditResult::Invalid).with_detail(v.to_string()),
    }
}

/// A license that does not verify names no id the trail could trust.
pub(super) fn refused_license(actor: Actor<'_>, e: &LicenseError) -> AuditEntry {
    AuditEntry::new(
        actor.token_name,
        AuditAction::InstallLicense.as_str(),
        tenure_core::wire::ANONYMOUS,
        AuditResult::Invalid,
    )
    .with_detail(e.to_string())
}

impl<S: Store> Manager<S> {
    /// [`Manager::revoke`] for `actor`, audited.
    pub fn revoke_by(&self, actor: Actor<'_>, id: GrantId) -> Result<(), ManagerError> {
        let entry = ended(actor, AuditAction::Revoke, id.to_string());
        self.end_one(
            |tx| tx.grant(id),
            tenure_core::manager::revoke,
            Some(&entry),
        )
    }

    /// [`Manager::admin_release`] for `actor`, audited.
    pub fn admin_release_by(
        &self,
        actor: Actor<'_>,
        instance: &Instance,
    ) -> Result<(), ManagerError> {
        let entry = ended(actor, AuditAction::Release, instance_target(instance));
        self.end_one(
            |tx| tx.grant_by_instance(instance),
            tenure_core::manager::admin_release,
            Some(&entry),
        )
    }

    /// `PUT /v1/license` for `actor` (an operator's explicit choice:
    /// [`InstallPolicy::Replace`]), audited; a license that does not verify
    /// leaves an `invalid` row too.
    pub fn install_license_by(
        &self,
        actor: Actor<'_>,
        text: &str,
    ) -> Result<Installed, InstallError> {
        self.install(text, InstallPolicy::Replace, Some(actor))
    }

    /// Appends `entry` in its own transaction at the storage clock: a call
    /// refused before it could act. A failure is logged, not returned: the
    /// refusal is the answer either way.
    pub fn record(&self, entry: &AuditEntry) {
        let out = self.store.transaction(&mut |tx| {
            let now = tx.now()?;
            tx.append_audit(now, entry)
        });
        if let Err(e) = out {
            tracing::warn!(error = %e, action = %entry.action, result = %entry.result, "audit row not written");
        }
    }

    /// Deletes one batch of audit rows older than `retention` on the storage
    /// clock, and says how many.
    pub fn prune_audit(&self, retention: Duration, limit: usize) -> Result<usize, StorageError> {
        let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        self.store.transaction(&mut |tx| {
            let now = tx.now()?;
            tx.prune_audit(
                tenure_core::UnixMillis(now.0.saturating_sub(keep_ms)),
                limit,
            )
        })
    }
}
