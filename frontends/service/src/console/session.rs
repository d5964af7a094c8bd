//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie,
//! everything else in this process's memory. A restart signs everyone out,
//! and each manager of a pair has its own sessions.

use crate::auth::Caller;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tenure_core::UnixMillis;

pub const COOKIE: &str = "tenure_session";
/// A session lasts this long from sign-in, however busy (a fixed lifetime:
/// a cookie that leaks is good for a working day at most).
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at once; past this the one closest to expiry goes.
const MAX_SESSIONS: usize = 10_000;

/// What a signed-in request knows about its session.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    /// The synchroniser token every form of this session carries.
    pub csrf: String,
    pub expires: UnixMillis,
    /// A one-time message for the next page (the result of an action).
    pub notice: Option<String>,
}

/// A session's key in the store: the digest of its cookie value, so the map
/// is never searched by the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key([u8; 32]);

#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<BTreeMap<Key, Session>>,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_of(id: &str) -> Key {
    Key(Sha256::digest(id.as_bytes()).into())
}

/// Equal strings, in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `caller`; returns the cookie value. `random` is 64
    /// bytes from the OS (ids and CSRF tokens are unguessable).
    pub fn create(&self, caller: Caller, now: UnixMillis, random: [u8; 64]) -> String {
        let (id, csrf) = random.split_at(32);
        let id = hex(id);
        let session = Session {
            caller,
            csrf: hex(csrf),
            expires: now.saturating_add(LIFETIME),
            notice: None,
        };
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        while map.len() >= MAX_SESSIONS {
            let Some(soonest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) else {
                break;
            };
            map.remove(&soonest);
        }
        map.insert(key_of(&id), session);
        id
    }

    /// The live session a `Cookie` header names, and its key.
    pub fn find(&self, cookie: Option<&str>, now: UnixMillis) -> Option<(Key, Session)> {
        let id = cookie_value(cookie, COOKIE)?;
        let key = key_of(id);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires > now => Some((key, s.clone())),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, key: Key) {
        self.lock().remove(&key);
    }

    pub fn set_notice(&self, key: Key, notice: String) {
        if let Some(s) = self.lock().get_mut(&key) {
            s.notice = Some(notice);
        }
    }

    /// The session's notice, cleared: each is shown once.
    pub fn take_notice(&self, key: Key) -> Option<String> {
        self.lock().get_mut(&key).and_then(|s| s.notice.take())
    }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; Path=/ui; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        LIFETIME.as_secs()
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use std::sync::Arc;

    fn caller() -> Caller {
        Caller {
            name: Arc::from("alice"),
            role: Role::Admin,
        }
    }

    #[test]
    fn a_session_lives_for_its_lifetime_only() {
        let s = Sessions::default();
        let t0 = UnixMillis(1_000_000);
        let id = s.create(caller(), t0, [7; 64]);
        assert_eq!(id.len(), 64);
        let header = format!("other=1; {COOKIE}={id}");
        let (key, found) = s.find(Some(&header), t0).expect("live");
        assert_eq!(&*found.caller.name, "alice");
        assert_eq!(found.csrf.len(), 64);
        assert!(s.find(Some(&format!("{COOKIE}=nope")), t0).is_none());
        assert!(s.find(None, t0).is_none());
        s.set_notice(key, "done".into());
        assert_eq!(s.take_notice(key).as_deref(), Some("done"));
        assert_eq!(s.take_notice(key), None);
        let late = t0.saturating_add(LIFETIME);
        assert!(s.find(Some(&header), late).is_none());
        s.remove(key);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_under_tls() {
        let c = set_cookie("ab", true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/ui",
            "Max-Age=28800",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie("ab", false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
