//! `--max-connections-per-ip`: one client address may hold at most this many
//! open connections, so one host (or one misbehaving agent fleet behind one
//! NAT) cannot take every slot of `--max-connections`. IPv6 clients count by
//! their /64, the block one host is usually given; an IPv4 address mapped
//! into IPv6 counts as that IPv4 address. Behind a load balancer every
//! connection comes from its address: the limit must then be at least the
//! balancer's connection count, or 0 (no limit; docs/operations.md).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The default: a fifth of the default `--max-connections` (8,192).
pub const DEFAULT_MAX_PER_IP: usize = 1638;

/// Open connections per client address.
#[derive(Debug)]
pub struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; its count falls when it is dropped.
#[derive(Debug)]
pub struct IpSlot {
    owner: Option<(Arc<PerIp>, IpAddr)>,
}

/// The address a connection counts against.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl PerIp {
    /// `max` 0: no limit.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for a connection from `ip`, or `None` when its address holds
    /// `max` already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.max == 0 {
            return Some(IpSlot { owner: None });
        }
        let key = key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            owner: Some((self.clone(), key)),
        })
    }

    /// Connections open from the address `ip` counts against.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&key(ip)).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some((owner, key)) = self.owner.take() else {
            return;
        };
        let mut open = owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&key) {
            *n = n.saturating_sub(1);
            // Forget the address: the map holds only addresses connected now.
            if *n == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn each_address_gets_max_and_slots_come_back() {
        let p = Arc::new(PerIp::new(2));
        let a1 = p.admit(ip("10.0.0.1")).expect("1");
        let _a2 = p.admit(ip("10.0.0.1")).expect("2");
        assert!(p.admit(ip("10.0.0.1")).is_none());
        let _b = p.admit(ip("10.0.0.2")).expect("another address");
        drop(a1);
        assert_eq!(p.open(ip("10.0.0.1")), 1);
        let _a3 = p.admit(ip("10.0.0.1")).expect("a slot came back");
        assert!(p.admit(ip("::ffff:10.0.0.1")).is_none(), "mapped v4 is v4");
    }

    #[test]
    fn ipv6_counts_by_its_64_and_zero_is_no_limit() {
        let p = Arc::new(PerIp::new(1));
        let _x = p.admit(ip("2001:db8:1:2::1")).expect("first");
        assert!(p.admit(ip("2001:db8:1:2:ffff::9")).is_none(), "same /64");
        assert!(p.admit(ip("2001:db8:1:3::1")).is_some(), "another /64");
        let open = Arc::new(PerIp::new(0));
        let slots: Vec<_> = (0..100)
            .filter_map(|_| open.admit(ip("10.0.0.1")))
            .collect();
        assert_eq!(slots.len(), 100);
        assert_eq!(open.open(ip("10.0.0.1")), 0, "no limit keeps no map");
    }
}
