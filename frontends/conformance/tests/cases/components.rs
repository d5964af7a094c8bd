//! Component tokens (M10, section 6.2): with `--component-token-file`,
//! grant, renew and release need `Authorization: Bearer` with one of its
//! tokens; several lines rotate; SIGHUP re-reads the file. Without it the
//! manager says at start that anyone can take slots, and a client that can
//! reach it can squat every free slot and steal a running component's.

use super::{Expect, assert_replaced, check_grant, grant_body};
use crate::support::server::{ADMIN_TOKEN, NAMED_ADMIN};
use crate::support::{Bin, Fixture, Launch, Server, assert_error, eventually};
use serde_json::Value;
use std::time::Duration;

const OLD: &str = "conformance-component-old-7c1d9e2f";
const NEW: &str = "conformance-component-new-3a8b6f40";
/// What the manager logs at start without component tokens.
const OPEN_WARNING: &str = "any client on the network can take";

fn both() -> String {
    format!("# NAME ROLE SECRET\nold component {OLD}\nnew component {NEW}\n")
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn grant(server: &Server, auth: Option<&str>, body: &Value) -> crate::support::Response {
    server.component(auth, "POST", "/v1/grants", Some(body))
}

fn renew(server: &Server, auth: Option<&str>, id: &str) -> crate::support::Response {
    server.component(auth, "POST", &format!("/v1/grants/{id}/renew"), None)
}

fn release(server: &Server, auth: Option<&str>, id: &str) -> crate::support::Response {
    server.component(auth, "DELETE", &format!("/v1/grants/{id}"), None)
}

/// Every header that is not one of the file's tokens, as a component might
/// send it by mistake or an attacker on purpose.
fn wrong_authorizations() -> Vec<Option<String>> {
    vec![
        None,
        Some(bearer("conformance-component-old-7c1d9e2e")),
        Some(bearer("old")),
        Some(bearer(ADMIN_TOKEN)),
        Some(format!("Basic {OLD}")),
        Some(OLD.to_owned()),
    ]
}

pub fn component_calls_need_a_token(bin: &Bin) {
    let fixture = Fixture::standard("conf-components-1");
    let server = Server::start(bin, Launch::new(&fixture).with_component_tokens(&both()));
    let expect = Expect::defaults(fixture.id());
    let body = grant_body("vdp", "c1", 1, 2);
    for auth in wrong_authorizations() {
        assert_error(&grant(&server, auth.as_deref(), &body), 401, "unauthorized");
    }
    let (old, new) = (bearer(OLD), bearer(NEW));
    // Both lines are accepted (rotation): a grant with one, its renewal with
    // the other.
    let id = check_grant(&grant(&server, Some(&old), &body), 201, expect);
    check_grant(&renew(&server, Some(&new), &id), 200, expect);
    for auth in wrong_authorizations() {
        assert_error(&renew(&server, auth.as_deref(), &id), 401, "unauthorized");
        assert_error(&release(&server, auth.as_deref(), &id), 401, "unauthorized");
    }
    // None of the refused calls touched the grant.
    check_grant(&renew(&server, Some(&old), &id), 200, expect);
    let gone = release(&server, Some(&new), &id);
    assert_eq!(gone.status, 204, "{}", gone.describe());
    assert_error(&renew(&server, Some(&old), &id), 404, "unknown_grant");
    // Admin calls still take the admin token file's tokens, not these.
    let status = server.admin("GET", "/v1/status", None);
    assert_eq!(status.status, 200, "{}", status.describe());
    let as_admin = server.admin_with(Some(&old), "GET", "/v1/status", None);
    assert_error(&as_admin, 401, "unauthorized");
    assert!(
        !server.stderr().contains(OPEN_WARNING),
        "no open-slots warning with tokens:\n{}",
        server.stderr()
    );
    assert!(
        !server.stderr().contains(OLD) && !server.stderr().contains(NEW),
        "secrets are never logged:\n{}",
        server.stderr()
    );
}

pub fn component_tokens_rotate_on_sighup(bin: &Bin) {
    let fixture = Fixture::standard("conf-components-2");
    let server = Server::start(bin, Launch::new(&fixture).with_component_tokens(&both()));
    let expect = Expect::defaults(fixture.id());
    let (old, new) = (bearer(OLD), bearer(NEW));
    let id = check_grant(
        &grant(&server, Some(&old), &grant_body("vdp", "c2", 1, 2)),
        201,
        expect,
    );
    let file = server.dir().join("component.token");
    std::fs::write(&file, format!("new component {NEW}\n")).expect("rotate");
    server.signal("HUP");
    let dropped = eventually(Duration::from_secs(10), || {
        (renew(&server, Some(&old), &id).status == 401).then_some(())
    });
    assert!(
        dropped.is_some(),
        "the old token is still accepted after SIGHUP:\n{}",
        server.stderr()
    );
    check_grant(&renew(&server, Some(&new), &id), 200, expect);
    // A file that no longer parses keeps the tokens in force, and the
    // manager keeps serving.
    std::fs::write(&file, format!("new admin {NEW}\n")).expect("break");
    server.signal("HUP");
    let said = eventually(Duration::from_secs(10), || {
        server.stderr().contains("not re-read").then_some(())
    });
    assert!(said.is_some(), "no refusal logged:\n{}", server.stderr());
    check_grant(&renew(&server, Some(&new), &id), 200, expect);
    assert_eq!(server.get("/pingLicenseManager").status, 200);
}

pub fn component_token_file_from_env_and_config(bin: &Bin) {
    let fixture = Fixture::standard("conf-components-3");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("component.token");
    std::fs::write(&file, format!("{OLD}\n")).expect("write");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let path = file.to_string_lossy().into_owned();
    for launch in [
        Launch::new(&fixture).env("TENURE_COMPONENT_TOKEN_FILE", &path),
        Launch::new(&fixture).config(&format!("component-token-file = \"{path}\"\n")),
    ] {
        let server = Server::start(bin, launch);
        let body = grant_body("vdp", "c3", 1, 2);
        assert_error(&grant(&server, None, &body), 401, "unauthorized");
        // A file of one bare secret is one component token.
        let ok = grant(&server, Some(&bearer(OLD)), &body);
        assert_eq!(ok.status, 201, "{}", ok.describe());
    }
}

pub fn open_manager_warns_at_start(bin: &Bin) {
    let fixture = Fixture::standard("conf-components-4");
    let server = Server::start(bin, Launch::new(&fixture));
    let warned = eventually(Duration::from_secs(10), || {
        server.stderr().contains(OPEN_WARNING).then_some(())
    });
    assert!(
        warned.is_some(),
        "M10: no warning that anyone can take slots:\n{}",
        server.stderr()
    );
    let lines = server
        .stderr()
        .lines()
        .filter(|l| l.contains(OPEN_WARNING))
        .count();
    assert_eq!(lines, 1, "one line:\n{}", server.stderr());
    assert!(
        server
            .stderr()
            .lines()
            .any(|l| l.contains(OPEN_WARNING) && l.contains("WARN")),
        "at warn level:\n{}",
        server.stderr()
    );
}

/// A refused start names the component token file and why.
pub fn component_token_file_refused_at_start(bin: &Bin) {
    let fixture = Fixture::standard("conf-components-5");
    let cases = [
        (both(), 0o644, "open to others"),
        (format!("a admin {OLD}\n"), 0o600, "role `admin`"),
        ("short\n".to_owned(), 0o600, "shorter"),
    ];
    for (text, mode, why) in cases {
        let mut launch = Launch::new(&fixture).with_component_tokens(&text);
        launch.component_mode = mode;
        let exited = crate::support::server::run_to_exit(bin, launch);
        super::startup::assert_refused(&exited, "component token file");
        assert!(exited.stderr.contains(why), "{why}:\n{}", exited.stderr);
    }
}

/// Grants for made-up hosts until the pool is full; how many were granted.
fn fill(server: &Server, round: &str) -> usize {
    (0..4)
        .filter(|n| {
            let body = grant_body("vdp", &format!("squat-{round}-{n}"), 1, 1);
            grant(server, None, &body).status == 201
        })
        .count()
}

/// What the victim sees after a slot-squatting attack.
#[derive(Debug)]
struct Aftermath {
    squatted: usize,
    renewed: crate::support::Response,
    regrant: crate::support::Response,
}

/// The slot-squatting attack, with no token: fill the pool's free slots with
/// made-up hosts, claim the victim's instance (M3 replaces its grant),
/// release that grant, and fill the slot it freed.
fn squat(server: &Server, victim_id: &str, victim: &Value) -> Aftermath {
    let mut squatted = fill(server, "a");
    let stolen = grant(server, None, victim);
    if let Some(id) = stolen.json().get("grant_id").and_then(Value::as_str) {
        release(server, None, id);
    }
    squatted += fill(server, "b");
    let token = bearer(OLD);
    Aftermath {
        squatted,
        renewed: renew(server, Some(&token), victim_id),
        regrant: grant(server, Some(&token), victim),
    }
}

pub fn slot_squatting_fails_with_tokens(bin: &Bin) {
    let fixture = Fixture::standard("conf-components-6");
    let victim = grant_body("vdp", "victim.example.com", 9999, 4);
    let expect = Expect::defaults(fixture.id());

    // Without component tokens the attack works: this is what M10 closes.
    let open = Server::start(bin, Launch::new(&fixture));
    let id = check_grant(&grant(&open, None, &victim), 201, expect);
    let after = squat(&open, &id, &victim);
    assert_replaced(&after.renewed, "production", "victim.example.com", 9999);
    assert_error(&after.regrant, 403, "servers_exceeded");
    assert_eq!(
        after.squatted, 2,
        "the squatters hold every slot: {after:?}"
    );
    drop(open);

    let closed = Server::start(
        bin,
        Launch::new(&fixture)
            .with_named_tokens()
            .with_component_tokens(&both()),
    );
    let id = check_grant(&grant(&closed, Some(&bearer(NEW)), &victim), 201, expect);
    let after = squat(&closed, &id, &victim);
    assert_eq!(after.squatted, 0, "{after:?}");
    check_grant(&after.renewed, 200, expect);
    // M3 on its own instance: the victim may still restart.
    check_grant(&after.regrant, 201, expect);
    // Nothing of the attacker's is held: one server in production/vdp.
    let status = closed.admin_with(Some(&bearer(NAMED_ADMIN)), "GET", "/v1/grants", None);
    assert_eq!(status.status, 200, "{}", status.describe());
    let held = crate::support::json_array(&status.json(), &["grants"]).clone();
    let hosts: Vec<&str> = held
        .iter()
        .filter_map(|g| g.get("hostname").and_then(Value::as_str))
        .collect();
    assert_eq!(hosts, ["victim.example.com"], "{held:?}");
}
