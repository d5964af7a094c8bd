use crate::GrantId;
use crate::time::UnixMillis;
use crate::wire::{EndReason, HostFacts, Instance, UsageRow};

/// A grant as storage keeps it while it is held (M2). All times are storage time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldGrant {
    pub grant_id: GrantId,
    pub instance: Instance,
    pub facts: HostFacts,
    pub granted_at: UnixMillis,
    pub last_renewed: UnixMillis,
    /// `last_renewed + grace + reclaim_margin`: the latest instant its component
    /// could still be running. Reclaimable at this instant, never before.
    pub held_until: UnixMillis,
    /// Component clock minus storage clock at its last request (T5).
    pub client_skew_ms: Option<i64>,
}

impl HeldGrant {
    pub fn is_held_at(&self, now: UnixMillis) -> bool {
        now < self.held_until
    }

    /// Writes `m` into this grant if it is a `Mutation::Renew` of it; returns
    /// whether it was.
    pub fn apply_renewal(&mut self, m: &Mutation) -> bool {
        match m {
            Mutation::Renew {
                grant_id,
                last_renewed,
                held_until,
                client_skew_ms,
            } if *grant_id == self.grant_id => {
                self.last_renewed = *last_renewed;
                self.held_until = *held_until;
                self.client_skew_ms = *client_skew_ms;
                true
            }
            _ => false,
        }
    }

    /// The usage row this grant leaves when it ends (M8). Storage writes the
    /// installed license's id into it (`license_id` is left `None` here:
    /// release, revoke and reclaim decide without reading the license).
    pub fn usage(&self, ended_at: UnixMillis, reason: EndReason) -> UsageRow {
        UsageRow {
            grant_id: self.grant_id,
            instance: self.instance.clone(),
            facts: self.facts.clone(),
            first_request_ms: self.granted_at.0,
            last_request_ms: self.last_renewed.0,
            ended_ms: ended_at.0,
            end_reason: reason,
            license_id: None,
        }
    }
}

/// A change storage applies inside the decision's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Add a held grant.
    Insert(HeldGrant),
    /// Record a renewal of a held grant.
    Renew {
        grant_id: GrantId,
        last_renewed: UnixMillis,
        held_until: UnixMillis,
        client_skew_ms: Option<i64>,
    },
    /// Remove a held grant and append its usage row.
    End { grant_id: GrantId, usage: UsageRow },
}
