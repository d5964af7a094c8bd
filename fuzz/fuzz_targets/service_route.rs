//! The router of `tenure-service`: arbitrary method and path.
//!
//! Asserts: no panic; a routed id is the non-empty path segment it came from
//! (no `/` inside); HEAD routes like GET; 405 only on a path some method
//! routes; admin routes are exactly the section 6 admin endpoints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenure_service::Method;
use tenure_service::route::{Route, route};

const METHODS: [Method; 6] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Other,
];

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method = METHODS[usize::from(m) % METHODS.len()];
    let r = route(method, path);
    let _ = r.label();
    match &r {
        Route::Renew(id) | Route::Release(id) | Route::Revoke(id) => {
            assert!(!id.is_empty() && !id.contains('/'), "{path:?} -> {r:?}");
            assert!(path.contains(id.as_str()));
        }
        Route::MethodNotAllowed(allow) => {
            assert!(!allow.is_empty());
            // Some method in Allow routes the same path.
            let routed = METHODS.iter().any(|m| {
                !matches!(
                    route(*m, path),
                    Route::MethodNotAllowed(_) | Route::NotFound
                )
            });
            assert!(routed, "405 on a path no method routes: {path:?}");
        }
        Route::NotFound => {
            for m in METHODS {
                assert_eq!(route(m, path), Route::NotFound, "{path:?}");
            }
        }
        _ => {}
    }
    if method == Method::Head {
        let get = route(Method::Get, path);
        if !matches!(get, Route::MethodNotAllowed(_)) {
            assert_eq!(get, r, "HEAD routes like GET: {path:?}");
        }
    }
    assert_eq!(
        r.is_admin(),
        matches!(
            r,
            Route::Status
                | Route::Grants
                | Route::Usage
                | Route::Audit
                | Route::AdminRelease
                | Route::Revoke(_)
                | Route::PutLicense
        )
    );
    let _ = Method::parse(path);
});
