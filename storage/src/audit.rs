//! The audit trail's paging cursor (PROTOCOL 6.3). The manager's audited
//! actions are in `manager/audit.rs`.

/// Where a page of audit rows ends: the last row's storage time and its
/// number in storage (rows are numbered in the order they are written).
/// Shown to clients as `AT.NUMBER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditCursor {
    pub at_ms: i64,
    pub id: i64,
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at_ms, self.id)
    }
}

/// Why a cursor was refused; the text names the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an audit cursor (AT.NUMBER, from a Link header)")]
pub struct BadAuditCursor(pub String);

impl std::str::FromStr for AuditCursor {
    type Err = BadAuditCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadAuditCursor(s.chars().take(64).collect());
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            at_ms: at.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_text() {
        let c = AuditCursor { at_ms: -5, id: 7 };
        assert_eq!(c.to_string().parse(), Ok(c));
        for bad in ["", "7", "1.x", "x.1", "1.2.3", "1..2"] {
            assert!(bad.parse::<AuditCursor>().is_err(), "{bad}");
        }
    }
}
