//! Which endpoint a method and path name (section 6).

use crate::http::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Health,
    Metrics,
    Grant,
    Renew(String),
    Release(String),
    Status,
    Grants,
    Usage,
    Audit,
    /// `GET /v1/reports/usage` (6.3).
    Report,
    AdminRelease,
    Revoke(String),
    PutLicense,
    /// `/ui` and everything under `/ui/`: the web console, which routes its
    /// own pages (`crate::console`).
    Console,
    NotFound,
    MethodNotAllowed(&'static str),
}

impl Route {
    /// A label for metrics and logs, bounded in cardinality (no ids).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Health => "health",
            Self::Metrics => "metrics",
            Self::Grant => "grant",
            Self::Renew(_) => "renew",
            Self::Release(_) => "release",
            Self::Status => "status",
            Self::Grants => "grants",
            Self::Usage => "usage",
            Self::Audit => "audit",
            Self::Report => "report",
            Self::AdminRelease => "admin_release",
            Self::Revoke(_) => "revoke",
            Self::PutLicense => "put_license",
            Self::Console => "console",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
        }
    }

    /// Whether this is an admin-API call: it needs a token of the admin
    /// token file (admin or viewer, section 6.2).
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Self::Status
                | Self::Grants
                | Self::Usage
                | Self::Audit
                | Self::Report
                | Self::AdminRelease
                | Self::Revoke(_)
                | Self::PutLicense
        )
    }

    /// Whether this is a component call (grant, renew, release): with
    /// component tokens it needs one (M10, section 6.2).
    pub fn is_component(&self) -> bool {
        matches!(self, Self::Grant | Self::Renew(_) | Self::Release(_))
    }

    /// Whether only an admin token may make this call; a viewer's gets 403
    /// `forbidden` (section 6.2).
    pub fn is_admin_only(&self) -> bool {
        matches!(
            self,
            Self::AdminRelease | Self::Revoke(_) | Self::PutLicense
        )
    }
}

fn only(method: Method, allowed: Method, allow: &'static str, route: Route) -> Route {
    let head_ok = allowed == Method::Get && method == Method::Head;
    if method == allowed || head_ok {
        route
    } else {
        Route::MethodNotAllowed(allow)
    }
}

pub fn route(method: Method, path: &str) -> Route {
    use Method::*;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["pingLicenseManager"] => only(method, Get, "GET, HEAD", Route::Ping),
        ["metrics"] => only(method, Get, "GET, HEAD", Route::Metrics),
        ["v1", "health"] => only(method, Get, "GET, HEAD", Route::Health),
        ["v1", "grants"] => match method {
            Post => Route::Grant,
            Get | Head => Route::Grants,
            _ => Route::MethodNotAllowed("GET, POST"),
        },
        ["v1", "grants", id] if !id.is_empty() => {
            only(method, Delete, "DELETE", Route::Release((*id).to_owned()))
        }
        ["v1", "grants", id, "renew"] if !id.is_empty() => {
            only(method, Post, "POST", Route::Renew((*id).to_owned()))
        }
        ["v1", "status"] => only(method, Get, "GET, HEAD", Route::Status),
        ["v1", "usage"] => only(method, Get, "GET, HEAD", Route::Usage),
        ["v1", "audit"] => only(method, Get, "GET, HEAD", Route::Audit),
        ["v1", "reports", "usage"] => only(method, Get, "GET, HEAD", Route::Report),
        ["v1", "admin", "release"] => only(method, Post, "POST", Route::AdminRelease),
        ["v1", "admin", "grants", id] if !id.is_empty() => {
            only(method, Delete, "DELETE", Route::Revoke((*id).to_owned()))
        }
        ["v1", "license"] => only(method, Put, "PUT", Route::PutLicense),
        ["ui", ..] => Route::Console,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Method::*;

    #[test]
    fn every_endpoint_routes() {
        assert_eq!(route(Get, "/pingLicenseManager"), Route::Ping);
        assert_eq!(route(Head, "/pingLicenseManager"), Route::Ping);
        assert_eq!(route(Get, "/v1/health"), Route::Health);
        assert_eq!(route(Get, "/metrics"), Route::Metrics);
        assert_eq!(route(Post, "/v1/grants"), Route::Grant);
        assert_eq!(route(Get, "/v1/grants"), Route::Grants);
        assert_eq!(
            route(Post, "/v1/grants/ab/renew"),
            Route::Renew("ab".into())
        );
        assert_eq!(route(Delete, "/v1/grants/ab"), Route::Release("ab".into()));
        assert_eq!(route(Get, "/v1/status"), Route::Status);
        assert_eq!(route(Get, "/v1/usage"), Route::Usage);
        assert_eq!(route(Head, "/v1/audit"), Route::Audit);
        assert!(route(Get, "/v1/audit").is_admin() && !route(Get, "/v1/audit").is_admin_only());
        assert_eq!(route(Get, "/v1/reports/usage"), Route::Report);
        assert!(route(Get, "/v1/reports/usage").is_admin());
        assert!(!route(Get, "/v1/reports/usage").is_admin_only());
        assert_eq!(route(Post, "/v1/admin/release"), Route::AdminRelease);
        assert_eq!(
            route(Delete, "/v1/admin/grants/ab"),
            Route::Revoke("ab".into())
        );
        assert_eq!(route(Put, "/v1/license"), Route::PutLicense);
        for p in ["/ui", "/ui/", "/ui/grants", "/ui/static/console.css"] {
            assert_eq!(route(Get, p), Route::Console, "{p}");
            assert_eq!(route(Post, p), Route::Console, "{p}");
        }
        assert!(route(Delete, "/v1/admin/grants/ab").is_admin_only());
        assert!(!route(Get, "/v1/grants").is_admin_only());
        assert!(route(Get, "/v1/grants").is_admin());
    }

    #[test]
    fn wrong_methods_and_unknown_paths() {
        assert_eq!(
            route(Post, "/pingLicenseManager"),
            Route::MethodNotAllowed("GET, HEAD")
        );
        assert_eq!(
            route(Put, "/v1/grants"),
            Route::MethodNotAllowed("GET, POST")
        );
        assert_eq!(
            route(Get, "/v1/grants/ab/renew"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(route(Other, "/v1/license"), Route::MethodNotAllowed("PUT"));
        for p in [
            "/",
            "",
            "/v1",
            "/v1/grants/",
            "/v1/grants//renew",
            "/v2/grants",
            "/pingLicenseManager/x",
            "/uix",
            "/v1/ui",
        ] {
            assert_eq!(route(Get, p), Route::NotFound, "{p}");
        }
    }
}
