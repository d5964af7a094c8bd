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

/// The least `reclaim_margin` a manager starts with (§7.1): below it, a
/// component whose clock runs slow could still be in grace when its slot is
/// given away (M2, I1).
pub const MIN_RECLAIM_MARGIN: Duration = Duration::from_secs(60);

/// A setting that breaks a rule (M11, §7.1). `tenured serve` refuses to
/// start with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSetting {
    #[error("renew_every is {0:?}; it must be at least 1 s")]
    RenewEveryUnderOneSecond(Duration),
    /// Grants carry `renew_every_s`: a fraction would be cut off on the wire.
    #[error("renew_every is {0:?}; it must be whole seconds (grants carry renew_every_s)")]
    RenewEveryNotWholeSeconds(Duration),
    /// Grants carry `lease_ttl_s`: a fraction would be cut off on the wire,
    /// and the lease the component sees would not be the one configured.
    #[error("lease_ttl is {0:?}; it must be whole seconds (grants carry lease_ttl_s)")]
    LeaseTtlNotWholeSeconds(Duration),
    #[error(
        "lease_ttl ({lease_ttl:?}) must be greater than renew_every ({renew_every:?}), \
         or a lease runs out before its renewal is due"
    )]
    LeaseTtlNotAboveRenewEvery {
        lease_ttl: Duration,
        renew_every: Duration,
    },
    #[error("reclaim_margin is {0:?}; it must be at least 60 s (M2)")]
    ReclaimMarginUnderMinimum(Duration),
}

impl ManagerConfig {
    /// §7.1: `renew_every` whole seconds and at least 1 s, `lease_ttl` whole
    /// seconds and greater than `renew_every`, `reclaim_margin` at least 60 s.
    /// The first broken rule, in that order.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let whole = |d: Duration| d.subsec_nanos() == 0;
        if self.renew_every < Duration::from_secs(1) {
            return Err(InvalidSetting::RenewEveryUnderOneSecond(self.renew_every));
        }
        if !whole(self.renew_every) {
            return Err(InvalidSetting::RenewEveryNotWholeSeconds(self.renew_every));
        }
        if !whole(self.lease_ttl) {
            return Err(InvalidSetting::LeaseTtlNotWholeSeconds(self.lease_ttl));
        }
        if self.lease_ttl <= self.renew_every {
            return Err(InvalidSetting::LeaseTtlNotAboveRenewEvery {
                lease_ttl: self.lease_ttl,
                renew_every: self.renew_every,
            });
        }
        if self.reclaim_margin < MIN_RECLAIM_MARGIN {
            return Err(InvalidSetting::ReclaimMarginUnderMinimum(
                self.reclaim_margin,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(renew_ms: u64, ttl_ms: u64, margin_ms: u64) -> ManagerConfig {
        ManagerConfig {
            renew_every: Duration::from_millis(renew_ms),
            lease_ttl: Duration::from_millis(ttl_ms),
            reclaim_margin: Duration::from_millis(margin_ms),
        }
    }

    #[test]
    fn defaults_and_the_edges_that_hold() {
        assert_eq!(ManagerConfig::default().check(), Ok(()));
        assert_eq!(cfg(1_000, 2_000, 60_000).check(), Ok(()));
        // The margin needs no whole seconds: it never goes on the wire.
        assert_eq!(cfg(1_000, 2_000, 60_500).check(), Ok(()));
    }

    #[test]
    fn each_rule_is_refused_and_named() {
        let refused = |c: ManagerConfig| c.check().expect_err("refused");
        assert_eq!(
            refused(cfg(500, 3_000, 600_000)),
            InvalidSetting::RenewEveryUnderOneSecond(Duration::from_millis(500))
        );
        assert_eq!(
            refused(cfg(0, 3_000, 600_000)),
            InvalidSetting::RenewEveryUnderOneSecond(Duration::ZERO)
        );
        assert_eq!(
            refused(cfg(1_500, 3_000, 600_000)),
            InvalidSetting::RenewEveryNotWholeSeconds(Duration::from_millis(1_500))
        );
        assert_eq!(
            refused(cfg(1_000, 2_500, 600_000)),
            InvalidSetting::LeaseTtlNotWholeSeconds(Duration::from_millis(2_500))
        );
        let equal = refused(cfg(2_000, 2_000, 600_000));
        assert!(
            matches!(equal, InvalidSetting::LeaseTtlNotAboveRenewEvery { .. }),
            "{equal:?}"
        );
        assert!(equal.to_string().contains("lease_ttl (2s)"), "{equal}");
        assert!(matches!(
            refused(cfg(3_000, 2_000, 600_000)),
            InvalidSetting::LeaseTtlNotAboveRenewEvery { .. }
        ));
        let margin = refused(cfg(1_000, 2_000, 59_999));
        assert_eq!(
            margin,
            InvalidSetting::ReclaimMarginUnderMinimum(Duration::from_millis(59_999))
        );
        assert!(margin.to_string().contains("at least 60 s"), "{margin}");
    }
}
