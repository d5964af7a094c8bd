//! The web console at `/ui/` (section 6, `docs/console.md`): the same
//! statuses and the headers that matter from both binaries: redirects,
//! the security headers, the session cookie, roles and the form token.

use super::{Expect, check_grant, grant_body};
use crate::support::client::Request;
use crate::support::server::{NAMED_ADMIN, NAMED_VIEWER};
use crate::support::tls::TlsFiles;
use crate::support::{Bin, Fixture, Launch, Response, Server, assert_error};

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-console-1");
    let launch = Launch::new(&fixture).with_named_tokens();
    (Server::start(bin, launch), fixture)
}

/// A browser's request: its cookie, and `Sec-Fetch-Site` as a browser sets it.
fn ui(
    server: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Response {
    let mut headers = vec![(
        "Sec-Fetch-Site",
        if method == "POST" {
            "same-origin"
        } else {
            "none"
        }
        .to_owned(),
    )];
    if let Some(c) = cookie {
        headers.push(("Cookie", c.to_owned()));
    }
    let body = form.map(|f| {
        headers.push((
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        ));
        f.as_bytes().to_vec()
    });
    server.send(&Request {
        method,
        path,
        headers,
        body,
    })
}

fn assert_secure_headers(r: &Response) {
    let csp = r.header("content-security-policy").unwrap_or("");
    for part in [
        "default-src 'self'",
        "script-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(part),
            "CSP {csp:?} lacks {part}: {}",
            r.describe()
        );
    }
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{:?}", r.headers);
    assert!(r.header("referrer-policy").is_some(), "{:?}", r.headers);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

/// Signs in; returns the cookie to send (`name=value`).
fn sign_in(server: &Server, secret: &str) -> String {
    let r = ui(
        server,
        "POST",
        "/ui/signin",
        None,
        Some(&format!("token={secret}")),
    );
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.header("location"), Some("/ui/"));
    assert_secure_headers(&r);
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {:?}", r.headers));
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    set.split(';').next().unwrap_or("").to_owned()
}

fn csrf(server: &Server, cookie: &str) -> String {
    let page = ui(server, "GET", "/ui/", Some(cookie), None).text();
    let at = page.find(r#"name="csrf" value=""#).expect("a form token") + 19;
    page[at..at + 64].to_owned()
}

pub fn console_pages_and_headers(bin: &Bin) {
    let (server, fixture) = start(bin);
    let r = ui(&server, "GET", "/ui", None, None);
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("/ui/")),
        "{}",
        r.describe()
    );
    let r = ui(&server, "GET", "/ui/", None, None);
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/signin")));
    assert_secure_headers(&r);
    let r = ui(&server, "GET", "/ui/signin", None, None);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.content_type().starts_with("text/html"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_secure_headers(&r);
    let css = ui(&server, "GET", "/ui/static/console.css", None, None);
    assert_eq!(css.status, 200);
    assert!(
        css.content_type().starts_with("text/css"),
        "{}",
        css.describe()
    );
    let bad = ui(
        &server,
        "POST",
        "/ui/signin",
        None,
        Some("token=not-a-token-of-the-file"),
    );
    assert_eq!(bad.status, 401, "{}", bad.describe());
    assert!(bad.header("set-cookie").is_none());
    let r = ui(&server, "DELETE", "/ui/", None, None);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(
        ui(&server, "GET", "/ui/no-such-page", None, None).status,
        404
    );
    let viewer = sign_in(&server, NAMED_VIEWER);
    let page = ui(&server, "GET", "/ui/", Some(&viewer), None);
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_secure_headers(&page);
    let html = page.text();
    assert!(
        html.contains(fixture.id()) && html.contains("production/vdp"),
        "{html}"
    );
    assert!(
        !html.contains("/ui/actions"),
        "a viewer has no actions: {html}"
    );
    assert_eq!(
        ui(&server, "GET", "/ui/grants", Some(&viewer), None).status,
        200
    );
    assert_eq!(
        ui(&server, "GET", "/ui/actions", Some(&viewer), None).status,
        403
    );
    // The API's bearer tokens are unchanged beside the console.
    let api = server.admin_with(
        Some(&format!("Bearer {NAMED_VIEWER}")),
        "GET",
        "/v1/status",
        None,
    );
    assert_eq!(api.status, 200, "{}", api.describe());
    let token = csrf(&server, &viewer);
    let out = ui(
        &server,
        "POST",
        "/ui/signout",
        Some(&viewer),
        Some(&format!("csrf={token}")),
    );
    assert_eq!(
        (out.status, out.header("location")),
        (303, Some("/ui/signin"))
    );
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let after = ui(&server, "GET", "/ui/", Some(&viewer), None);
    assert_eq!(after.status, 303, "signed out: {}", after.describe());
}

pub fn console_actions_need_admin_and_form_token(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let id = check_grant(&server.grant(&grant_body("vdp", "a", 1, 2)), 201, expect);
    let form = |t: &str| format!("csrf={t}&grant={id}");
    let viewer = sign_in(&server, NAMED_VIEWER);
    let vt = csrf(&server, &viewer);
    let r = ui(
        &server,
        "POST",
        "/ui/actions/revoke",
        Some(&viewer),
        Some(&form(&vt)),
    );
    assert_eq!(r.status, 403, "a viewer may not act: {}", r.describe());
    let admin = sign_in(&server, NAMED_ADMIN);
    let at = csrf(&server, &admin);
    let confirm = ui(
        &server,
        "GET",
        &format!("/ui/actions/revoke?grant={id}"),
        Some(&admin),
        None,
    );
    assert_eq!(confirm.status, 200, "{}", confirm.describe());
    let r = ui(
        &server,
        "POST",
        "/ui/actions/revoke",
        Some(&admin),
        Some(&form("0")),
    );
    assert_eq!(r.status, 403, "wrong form token: {}", r.describe());
    let r = ui(
        &server,
        "POST",
        "/ui/actions/revoke",
        Some(&admin),
        Some(&form(&vt)),
    );
    assert_eq!(
        r.status,
        403,
        "another session's form token: {}",
        r.describe()
    );
    let cross = server.send(&Request {
        method: "POST",
        path: "/ui/actions/revoke",
        headers: vec![
            ("Sec-Fetch-Site", "same-site".into()),
            ("Cookie", admin.clone()),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
        body: Some(form(&at).into_bytes()),
    });
    assert_eq!(
        cross.status,
        403,
        "a form from another origin: {}",
        cross.describe()
    );
    check_grant(&server.renew(&id), 200, expect);
    let r = ui(
        &server,
        "POST",
        "/ui/actions/revoke",
        Some(&admin),
        Some(&form(&at)),
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/ui/grants")),
        "{}",
        r.describe()
    );
    assert_error(&server.renew(&id), 403, "revoked");
}

pub fn console_cookie_is_secure_under_tls(bin: &Bin) {
    let fixture = Fixture::standard("conf-console-2");
    let mut launch = Launch::new(&fixture).with_named_tokens();
    launch.tls = Some(TlsFiles::generate());
    let server = Server::start(bin, launch);
    let r = ui(
        &server,
        "POST",
        "/ui/signin",
        None,
        Some(&format!("token={NAMED_ADMIN}")),
    );
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_secure_headers(&r);
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {:?}", r.headers));
    for part in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap_or("");
    let page = ui(&server, "GET", "/ui/", Some(cookie), None);
    assert_eq!(page.status, 200, "{}", page.describe());
}

pub fn console_usage_and_audit_pages(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    check_grant(&server.grant(&grant_body("vdp", "u1", 1, 4)), 201, expect);
    let refused = server.admin_with(Some("Bearer not-a-token"), "GET", "/v1/status", None);
    assert_eq!(refused.status, 401, "{}", refused.describe());
    let viewer = sign_in(&server, NAMED_VIEWER);
    let page = ui(&server, "GET", "/ui/usage", Some(&viewer), None);
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_secure_headers(&page);
    let html = page.text();
    for part in ["production/vdp", "<svg", "/ui/usage.csv?days=30&amp;by=day"] {
        assert!(html.contains(part), "{part} in {html}");
    }
    for bad in [
        "/ui/usage?days=7",
        "/ui/usage?by=week",
        "/ui/usage.csv?days=1",
    ] {
        let r = ui(&server, "GET", bad, Some(&viewer), None);
        assert_eq!(r.status, 400, "{bad}: {}", r.describe());
        assert!(r.content_type().starts_with("text/html"), "{bad}");
    }
    let csv = ui(
        &server,
        "GET",
        "/ui/usage.csv?days=90&by=month",
        Some(&viewer),
        None,
    );
    assert_eq!(csv.status, 200, "{}", csv.describe());
    assert!(
        csv.content_type().starts_with("text/csv"),
        "{}",
        csv.describe()
    );
    assert!(
        csv.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment; filename=\"tenure-usage-")),
        "{:?}",
        csv.headers
    );
    assert_secure_headers(&csv);
    let text = csv.text();
    assert!(
        text.starts_with("period_start,environment,product,"),
        "{text}"
    );
    assert!(text.contains(",production,vdp,1,4,"), "{text}");
    let r = ui(&server, "GET", "/ui/usage.csv", None, None);
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/signin")));
    let audit = ui(&server, "GET", "/ui/audit", Some(&viewer), None);
    assert_eq!(audit.status, 200, "{}", audit.describe());
    let html = audit.text();
    assert!(
        html.contains("GET /v1/status") && html.contains("unauthorized"),
        "the refused call is listed: {html}"
    );
    let r = ui(
        &server,
        "GET",
        "/ui/audit?after=yesterday",
        Some(&viewer),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.describe());
    let r = ui(&server, "POST", "/ui/audit", Some(&viewer), Some(""));
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
}
