//! Grant, renew, release, limits (M1) and restart replacement (M3).

use super::{Expect, assert_replaced, check_grant, example_grant, grant_body};
use crate::support::{Bin, Fixture, Launch, Server, assert_error, json_array};
use serde_json::json;

fn start(bin: &Bin) -> (Server, Fixture) {
    let fixture = Fixture::standard("conf-grants-1");
    (Server::start(bin, Launch::new(&fixture)), fixture)
}

pub fn grant_renew_release_cycle(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let id = check_grant(&server.grant(&example_grant()), 201, expect);
    let renewed = check_grant(&server.renew(&id), 200, expect);
    assert_eq!(renewed, id, "renew keeps the grant id");
    let resp = server.release(&id);
    assert_eq!(resp.status, 204, "{}", resp.describe());
    assert!(resp.body.is_empty(), "204 has no body");
    assert_error(&server.renew(&id), 404, "unknown_grant");
    assert_error(&server.release(&id), 404, "unknown_grant");
    // The slot is free again.
    check_grant(&server.grant(&example_grant()), 201, expect);
}

pub fn durations_follow_flags(bin: &Bin) {
    let fixture = Fixture::standard("conf-grants-2");
    let launch = Launch::new(&fixture)
        .arg("--renew-every", "30s")
        .arg("--lease-ttl", "2m");
    let server = Server::start(bin, launch);
    let expect = Expect {
        license_id: fixture.id(),
        lease_ttl_s: 120,
        renew_every_s: 30,
    };
    let id = check_grant(&server.grant(&example_grant()), 201, expect);
    check_grant(&server.renew(&id), 200, expect);
}

/// §7: every flag also reads `TENURE_<FLAG>` and a `--config` file; both
/// binaries honour both (a config file read by one binary and ignored by the
/// other would give components different timings).
pub fn durations_follow_env_and_config_file(bin: &Bin) {
    let fixture = Fixture::standard("conf-grants-3");
    let launch = Launch::new(&fixture)
        .env("TENURE_LEASE_TTL", "3m")
        .config("renew-every = \"45s\"\nreclaim-margin = \"15m\"\n");
    let server = Server::start(bin, launch);
    let expect = Expect {
        license_id: fixture.id(),
        lease_ttl_s: 180,
        renew_every_s: 45,
    };
    let id = check_grant(&server.grant(&example_grant()), 201, expect);
    check_grant(&server.renew(&id), 200, expect);
}

pub fn unknown_grant_ids_are_404(bin: &Bin) {
    let (server, _) = start(bin);
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_error(&server.renew(unknown), 404, "unknown_grant");
    assert_error(&server.release(unknown), 404, "unknown_grant");
}

pub fn cores_per_server_limit(bin: &Bin) {
    let (server, fixture) = start(bin);
    let resp = server.grant(&grant_body("vdp", "big.example.com", 1, 17));
    assert_error(&resp, 403, "cores_exceeded");
    let id = check_grant(
        &server.grant(&grant_body("vdp", "big.example.com", 1, 16)),
        201,
        Expect::defaults(fixture.id()),
    );
    assert_eq!(server.release(&id).status, 204);
}

pub fn servers_limit(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let a = check_grant(
        &server.grant(&grant_body("vdp", "a.example.com", 1, 1)),
        201,
        expect,
    );
    check_grant(
        &server.grant(&grant_body("vdp", "b.example.com", 1, 1)),
        201,
        expect,
    );
    let third = server.grant(&grant_body("vdp", "c.example.com", 1, 1));
    assert_error(&third, 403, "servers_exceeded");
    // Another port on a held host is another instance, so another server.
    let other_port = server.grant(&grant_body("vdp", "a.example.com", 2, 1));
    assert_error(&other_port, 403, "servers_exceeded");
    // Releasing one frees its slot.
    assert_eq!(server.release(&a).status, 204);
    check_grant(
        &server.grant(&grant_body("vdp", "c.example.com", 1, 1)),
        201,
        expect,
    );
}

pub fn total_cores_limit(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    check_grant(
        &server.grant(&grant_body("vdp", "a.example.com", 1, 16)),
        201,
        expect,
    );
    let over = server.grant(&grant_body("vdp", "b.example.com", 1, 5));
    assert_error(&over, 403, "cores_exceeded");
    // 16 + 4 = 20 is exactly the limit.
    check_grant(
        &server.grant(&grant_body("vdp", "b.example.com", 1, 4)),
        201,
        expect,
    );
}

pub fn unlicensed_environment_and_product(bin: &Bin) {
    let (server, _) = start(bin);
    let env =
        json!({"environment": "qa", "product": "vdp", "hostname": "h", "port": 1, "cores": 1});
    assert_error(&server.grant(&env), 403, "environment_not_licensed");
    let product = grant_body("scheduler", "h", 1, 1);
    assert_error(&server.grant(&product), 403, "product_not_licensed");
    // Names are case-sensitive: `VDP` is not `vdp`.
    let upper = grant_body("VDP", "h", 1, 1);
    assert_error(&server.grant(&upper), 403, "product_not_licensed");
}

pub fn regrant_replaces_old_grant(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let old = check_grant(
        &server.grant(&grant_body("vdp", "a.example.com", 1, 8)),
        201,
        expect,
    );
    check_grant(
        &server.grant(&grant_body("vdp", "b.example.com", 1, 8)),
        201,
        expect,
    );
    // Both slots are taken; a restart of `a` still gets one (M3), with more cores.
    let new = check_grant(
        &server.grant(&grant_body("vdp", "a.example.com", 1, 12)),
        201,
        expect,
    );
    assert_ne!(new, old, "a replacement grant has a new id");
    // M3: the older process hears `replaced`, every time (final), and stops.
    for _ in 0..2 {
        assert_replaced(&server.renew(&old), "production", "a.example.com", 1);
    }
    check_grant(&server.renew(&new), 200, expect);
    // Releasing the replaced grant is unknown: it holds nothing to give back.
    assert_error(&server.release(&old), 404, "unknown_grant");
    assert_replaced(&server.renew(&old), "production", "a.example.com", 1);
    // The replaced grant's cores no longer count: 12 + 8 = 20.
    let third = server.grant(&grant_body("vdp", "c.example.com", 1, 1));
    assert_error(&third, 403, "servers_exceeded");
    // One usage row, `replaced`, for the old grant (M8).
    let usage = server.admin("GET", "/v1/usage", None);
    assert_eq!(usage.status, 200, "{}", usage.describe());
    let usage = usage.json();
    let rows = json_array(&usage, &["usage", "rows"]);
    assert_eq!(rows.len(), 1, "{usage}");
    assert_eq!(rows[0]["grant_id"].as_str(), Some(old.as_str()), "{usage}");
    assert_eq!(rows[0]["end_reason"].as_str(), Some("replaced"), "{usage}");
}

pub fn hostnames_compare_lower_case(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let old = check_grant(
        &server.grant(&grant_body("vdp", "vdp1.example.com", 9999, 8)),
        201,
        expect,
    );
    check_grant(
        &server.grant(&grant_body("vdp", "vdp2.example.com", 9999, 8)),
        201,
        expect,
    );
    // The same instance spelled upper-case replaces the first grant, needing no third slot.
    let new = check_grant(
        &server.grant(&grant_body("vdp", "VDP1.Example.COM", 9999, 8)),
        201,
        expect,
    );
    assert_ne!(new, old);
    assert_replaced(&server.renew(&old), "production", "vdp1.example.com", 9999);
    check_grant(&server.renew(&new), 200, expect);
}

pub fn environment_defaults_to_production(bin: &Bin) {
    let (server, fixture) = start(bin);
    let expect = Expect::defaults(fixture.id());
    let body = json!({"product": "vdp", "hostname": "a.example.com", "port": 1, "cores": 1});
    let first = check_grant(&server.grant(&body), 201, expect);
    // The same instance with an explicit `production` replaces it: same pool, same instance.
    let second = check_grant(
        &server.grant(&grant_body("vdp", "a.example.com", 1, 1)),
        201,
        expect,
    );
    assert_replaced(&server.renew(&first), "production", "a.example.com", 1);
    // Defaulted requests count against production/vdp's limits.
    check_grant(
        &server.grant(&json!({"product": "vdp", "hostname": "b", "port": 1, "cores": 1})),
        201,
        expect,
    );
    let third = json!({"product": "vdp", "hostname": "c", "port": 1, "cores": 1});
    assert_error(&server.grant(&third), 403, "servers_exceeded");
    check_grant(&server.renew(&second), 200, expect);
    // Another environment is another pool.
    let staging = json!({"environment": "staging", "product": "vdp", "hostname": "c", "port": 1, "cores": 64});
    check_grant(&server.grant(&staging), 201, expect);
}
