//! The web console in a real browser: headless Chromium through WebDriver
//! against a live `tenured` (and `tenured-smol`) whose grants are held by
//! real `tenure-agent` processes. Each case saves a screenshot under
//! `<target>/console-screenshots/` and prints its path.
//!
//! A missing chromium or chromedriver fails the cases under CI=true and is
//! reported as ignored otherwise.

mod browser;
// support/ re-exports what ha.rs uses (Fleet, Haproxy, PrivatePg), unused here.
#[allow(unused_imports)]
mod support;

use browser::steps::{
    Step, attr_of, click, close, fill, find_all, goto, row_texts, text_of, wait_for,
};
use browser::{Driver, Origin, screenshot};
use fantoccini::Client;
use fantoccini::Locator::{Css, Id, LinkText, XPath};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::manager::Launch;
use support::{AGENT, Flavor, Manager, Setup, free_port, needed, required, serial, wait_until};
use tenure_testkit::{Need, trial};

const ADMIN: &str = "console-e2e-admin-secret-3c9d";
const VIEWER: &str = "console-e2e-viewer-secret-8a1f";
const AGENTS: usize = 3;
const AGENT_CORES: u32 = 2;
const MAX_SERVERS: u64 = 4;
/// docs/agent.md: revoked by an administrator.
const EXIT_REVOKED: i32 = 71;

/// A live manager with agents holding grants, and a browser.
struct Rig {
    _setup: Setup,
    manager: Manager,
    agents: Vec<(String, Child)>,
    driver: Driver,
    flavor: Flavor,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for (_, a) in &mut self.agents {
            let _ = a.kill();
            let _ = a.wait();
        }
    }
}

fn binaries(flavor: Flavor) -> Result<(PathBuf, PathBuf, (PathBuf, PathBuf)), String> {
    Ok((
        flavor.binary()?,
        required("tenure-agent")?,
        browser::find()?,
    ))
}

impl Rig {
    /// The binaries and the browser are declared needs, so the kit saw them
    /// before the case ran.
    fn start(case: &str, flavor: Flavor) -> Self {
        let (server, agent, (chromium, chromedriver)) = needed(
            &format!("{case} ({})", flavor.file_name()),
            binaries(flavor),
        );
        let setup = Setup::new("console-e2e", 1, 3600, &[("vdp", MAX_SERVERS)]);
        let tokens = setup.path("admin.token");
        std::fs::write(
            &tokens,
            // The support code's own admin calls use TOKEN.
            format!(
                "ops admin {ADMIN}\nwatch viewer {VIEWER}\nsupport admin {}\n",
                support::license::TOKEN
            ),
        )
        .expect("token file");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
        let database = format!("sqlite://{}", setup.path("tenure.db").display());
        let launch = Launch::new(&server, &database, "console-1", free_port());
        let manager = Manager::start(&setup, &launch);
        let agents = (0..AGENTS)
            .map(|i| {
                let host = format!("cagent-{i}");
                let child = Command::new(&agent)
                    .args(["run", "--manager", &manager.url, "--product", "vdp"])
                    .args(["--hostname", &host, "--port", "9999"])
                    .args(["--cores", &AGENT_CORES.to_string()])
                    .args(["--request-timeout", "2s", "--kill-timeout", "2s"])
                    .args(["--", "sleep", "3600"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", agent.display()));
                (host, child)
            })
            .collect();
        let rig = Self {
            _setup: setup,
            agents,
            driver: Driver::start(&chromium, &chromedriver),
            flavor,
            manager,
        };
        let held = wait_until(Duration::from_secs(30), || {
            rig.manager.grants().len() == AGENTS
        });
        assert!(
            held,
            "{AGENTS} agents should hold grants:\n{}",
            rig.manager.log()
        );
        rig
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.manager.url)
    }

    fn shot(&self, case: &str) -> String {
        format!("{case}-{}", self.flavor.file_name())
    }

    async fn sign_in(&self, client: &Client, secret: &str) -> Step {
        goto(client, &self.url("/ui/signin")).await?;
        fill(client, Id("token"), secret).await?;
        click(client, Css("form.signin button[type=submit]")).await?;
        wait_for(client, Css("div.who")).await?;
        Ok(())
    }

    /// A new 1280 x 900 window signed in with `secret`.
    async fn signed_in(&self, secret: &str) -> Step<Client> {
        let client = self.driver.open(1280, 900).await;
        self.sign_in(&client, secret).await?;
        Ok(client)
    }

    /// The agent's exit code once it has exited by itself.
    fn wait_exit(&mut self, host: &str, limit: Duration) -> Option<i32> {
        let (_, child) = self.agents.iter_mut().find(|(h, _)| h == host)?;
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

/// The page's text; tried again while a navigation replaces the page.
async fn body_text(client: &Client) -> String {
    let mut last = None;
    for _ in 0..50 {
        match client.find(Css("body")).await {
            Ok(body) => match body.text().await {
                Ok(t) => return t,
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no page text: {last:?}")
}

/// `document.documentElement.scrollWidth <= clientWidth`.
async fn no_horizontal_scroll(client: &Client) -> (u64, u64) {
    let v = client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .expect("measure");
    let n = |i: usize| {
        v.get(i)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(u64::MAX)
    };
    (n(0), n(1))
}

/// Runs a case's browser steps; the first step that fails fails the case.
fn in_browser(steps: impl std::future::Future<Output = Step>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = runtime.block_on(steps) {
        panic!("{e}");
    }
}

fn signs_in_as_viewer_and_admin(flavor: Flavor) {
    let _serial = serial();
    let case = "sign_in";
    let rig = Rig::start(case, flavor);
    in_browser(async {
        let client = rig.signed_in(VIEWER).await?;
        let who = body_text(&client).await;
        assert!(who.contains("watch (viewer)"), "{who}");
        screenshot(&client, &rig.shot("signed-in-viewer")).await;
        click(&client, Css("div.who button")).await?;
        // Back at sign-in, a wrong token is refused on the page.
        fill(&client, Id("token"), "not-a-token-at-all").await?;
        click(&client, Css("form.signin button")).await?;
        wait_for(&client, Css("p.error")).await?;
        let refused = body_text(&client).await;
        assert!(refused.contains("not in the token file"), "{refused}");
        rig.sign_in(&client, ADMIN).await?;
        let who = body_text(&client).await;
        assert!(
            who.contains("ops (admin)") && who.contains("Actions"),
            "{who}"
        );
        screenshot(&client, &rig.shot("signed-in-admin")).await;
        close(client).await
    });
}

fn overview_shows_live_pools(flavor: Flavor) {
    let _serial = serial();
    let case = "overview";
    let rig = Rig::start(case, flavor);
    in_browser(async {
        let client = rig.signed_in(VIEWER).await?;
        let pool = text_of(&client, Css("section.pool")).await?;
        let servers = format!("{AGENTS} of {MAX_SERVERS}");
        let cores = format!("{} of unlimited", AGENTS as u32 * AGENT_CORES);
        assert!(pool.contains("production/vdp"), "{pool}");
        assert!(pool.contains(&servers) && pool.contains(&cores), "{pool}");
        let bars = find_all(&client, Css("section.pool svg.bar rect.ok")).await?;
        assert!(!bars.is_empty(), "the servers bar is drawn");
        let page = body_text(&client).await;
        assert!(
            page.contains("HA End-to-End Co") && page.contains("console-1"),
            "{page}"
        );
        screenshot(&client, &rig.shot("overview")).await;
        close(client).await
    });
}

fn admin_revokes_from_the_page(flavor: Flavor) {
    let _serial = serial();
    let case = "revoke";
    let mut rig = Rig::start(case, flavor);
    let host = "cagent-1";
    in_browser(async {
        let client = rig.signed_in(ADMIN).await?;
        goto(&client, &rig.url("/ui/grants")).await?;
        screenshot(&client, &rig.shot("grants-admin")).await;
        let link = format!("//tr[.//span[contains(., '{host}:9999')]]//a[contains(., 'Revoke')]");
        click(&client, XPath(&link)).await?;
        wait_for(&client, Css("button.danger")).await?;
        let text = body_text(&client).await;
        assert!(
            text.contains(&format!("{host}:9999")) && text.contains("stops"),
            "{text}"
        );
        screenshot(&client, &rig.shot("revoke-confirm")).await;
        click(&client, Css("button.danger")).await?;
        wait_for(&client, Css("p.notice")).await?;
        screenshot(&client, &rig.shot("revoked")).await;
        close(client).await
    });
    let code = rig.wait_exit(host, Duration::from_secs(20));
    assert_eq!(
        code,
        Some(EXIT_REVOKED),
        "the agent holding the grant stops as revoked"
    );
    let others: Vec<i32> = ["cagent-0", "cagent-2"]
        .iter()
        .filter_map(|h| rig.wait_exit(h, Duration::from_millis(200)))
        .collect();
    assert!(
        others.is_empty(),
        "only the revoked agent stops: {others:?}"
    );
}

fn viewer_sees_no_action_controls(flavor: Flavor) {
    let _serial = serial();
    let case = "viewer";
    let rig = Rig::start(case, flavor);
    in_browser(async {
        let client = rig.signed_in(VIEWER).await?;
        for path in ["/ui/", "/ui/grants"] {
            goto(&client, &rig.url(path)).await?;
            let actions = find_all(
                &client,
                Css("a[href^='/ui/actions'], button.danger, form[method=post][action^='/ui/actions']"),
            )
            .await?;
            assert!(
                actions.is_empty(),
                "{path}: a viewer sees no action control"
            );
            let text = body_text(&client).await;
            assert!(
                !text.contains("Revoke") && !text.contains("Release"),
                "{path}: {text}"
            );
        }
        screenshot(&client, &rig.shot("grants-viewer")).await;
        goto(&client, &rig.url("/ui/actions")).await?;
        let text = body_text(&client).await;
        assert!(text.contains("Only an admin token may act"), "{text}");
        close(client).await
    });
}

fn forged_cross_site_post_is_refused(flavor: Flavor) {
    let _serial = serial();
    let case = "forged";
    let mut rig = Rig::start(case, flavor);
    let grants = rig.manager.grants();
    let victim = grants
        .iter()
        .find(|g| g["hostname"] == "cagent-2")
        .and_then(|g| g["grant_id"].as_str())
        .expect("cagent-2's grant")
        .to_owned();
    let target = rig.url("/ui/actions/revoke");
    let attacker = Origin::serve(format!(
        "<!DOCTYPE html><html><body><form id=f method=post action=\"{target}\">\
         <input name=grant value=\"{victim}\"><input name=csrf value=\"guessed\"></form>\
         <script>document.getElementById('f').submit();</script></body></html>"
    ));
    in_browser(async {
        let client = rig.signed_in(ADMIN).await?;
        goto(&client, &attacker.url).await?;
        let landed = wait_until_async(&client, |url| url.contains("/ui/actions/revoke")).await;
        assert!(landed, "the forged form was posted to the console");
        let text = body_text(&client).await;
        assert!(text.contains("Not allowed"), "{text}");
        screenshot(&client, &rig.shot("forged-refused")).await;
        close(client).await
    });
    let still = rig.manager.grants();
    assert!(
        still.iter().any(|g| g["grant_id"] == victim.as_str()),
        "the grant was not revoked"
    );
    assert_eq!(
        rig.wait_exit("cagent-2", Duration::from_secs(3)),
        None,
        "the agent runs on"
    );
}

fn admin_installs_a_license_file(flavor: Flavor) {
    let _serial = serial();
    let case = "license";
    let mut rig = Rig::start(case, flavor);
    // Signed by the same vendor key; it licenses production/other only, so
    // it drops the pool the agents hold.
    let other = Setup::new("console-e2e-2", 1, 3600, &[("other", 2)]);
    let file = other.path("license.lic");
    in_browser(async {
        let client = rig.signed_in(ADMIN).await?;
        goto(&client, &rig.url("/ui/actions")).await?;
        // A file input takes the file's path as typed keys.
        fill(&client, Id("license_file"), &file.display().to_string()).await?;
        click(&client, Css("#install button[type=submit]")).await?;
        wait_for(&client, Css("button.danger")).await?;
        let text = body_text(&client).await;
        assert!(text.contains("console-e2e-2"), "{text}");
        assert!(
            text.contains(&format!("{AGENTS} grants will end")),
            "{text}"
        );
        for i in 0..AGENTS {
            assert!(text.contains(&format!("cagent-{i}:9999")), "{text}");
        }
        screenshot(&client, &rig.shot("license-confirm")).await;
        click(&client, Css("button.danger")).await?;
        wait_for(&client, Css("p.notice")).await?;
        let text = body_text(&client).await;
        assert!(text.contains("License console-e2e-2 installed"), "{text}");
        close(client).await
    });
    let status = rig.manager.admin("GET", "/v1/status", None).json();
    assert_eq!(status["license_id"], "console-e2e-2", "{status}");
    // The dropped pool's agents are refused at their next renewal and stop.
    for i in 0..AGENTS {
        let code = rig.wait_exit(&format!("cagent-{i}"), Duration::from_secs(20));
        assert!(code.is_some_and(|c| c != 0), "cagent-{i} stops: {code:?}");
    }
}

/// `GET path` on the console with the browser's session cookie, outside the
/// browser: the status, the head's lines and the body.
fn get_with_cookie(rig: &Rig, path: &str, cookie: &str) -> (u16, Vec<String>, String) {
    use std::io::{Read, Write};
    let addr = rig.manager.addr;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: tenure_session={cookie}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP head");
    let lines: Vec<String> = head.lines().map(str::to_owned).collect();
    let status = lines
        .first()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (status, lines, body.to_owned())
}

/// The value of header `name` among `lines`, if any.
fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn usage_page_shows_the_days_report(flavor: Flavor) {
    let _serial = serial();
    let case = "usage";
    let rig = Rig::start(case, flavor);
    let cores = AGENTS as u32 * AGENT_CORES;
    in_browser(async {
        let client = rig.driver.open(1280, 1400).await;
        rig.sign_in(&client, VIEWER).await?;
        goto(&client, &rig.url("/ui/usage")).await?;
        let chart = text_of(&client, Css("section.usage-pool")).await?;
        assert!(chart.contains("production/vdp"), "{chart}");
        let bars = find_all(&client, Css("section.usage-pool svg.chart rect.peak")).await?;
        assert_eq!(bars.len(), 2, "today's peak servers and cores are drawn");
        let limits = find_all(&client, Css("section.usage-pool svg.chart line.limit")).await?;
        assert_eq!(limits.len(), 1, "servers have a limit, cores none");
        let row = row_texts(&client, Css("table.report tbody tr:first-child")).await?;
        assert_eq!(
            row.get(1).map(String::as_str),
            Some("production/vdp"),
            "{row:?}"
        );
        assert_eq!(
            row.get(2),
            Some(&AGENTS.to_string()),
            "peak servers: {row:?}"
        );
        assert_eq!(row.get(3), Some(&cores.to_string()), "peak cores: {row:?}");
        assert_eq!(
            row.get(6),
            Some(&AGENTS.to_string()),
            "grants started: {row:?}"
        );
        screenshot(&client, &rig.shot("usage")).await;
        let href = attr_of(&client, LinkText("Download CSV"), "href").await?;
        assert_eq!(href, "/ui/usage.csv?days=30&by=day");
        let cookie = client
            .get_named_cookie("tenure_session")
            .await
            .map_err(|e| format!("the session cookie: {e}"))?;
        let (status, head, body) = get_with_cookie(&rig, &href, cookie.value());
        assert_eq!(status, 200, "{head:?}\n{body}");
        assert!(
            header(&head, "content-type").is_some_and(|t| t.starts_with("text/csv")),
            "{head:?}"
        );
        assert!(
            header(&head, "content-disposition").is_some_and(|d| d.starts_with("attachment;")),
            "{head:?}"
        );
        let mut lines = body.lines();
        assert_eq!(
            lines.next(),
            Some(tenure_core::report::CSV_HEADER.join(",").as_str()),
            "{body}"
        );
        let today = lines.next().unwrap_or_default();
        assert!(
            today.contains(&format!(",production,vdp,{AGENTS},{cores},")),
            "{body}"
        );
        // Without the session the file is not given.
        let (status, _, _) = get_with_cookie(&rig, &href, "not-a-session");
        assert_eq!(status, 303, "no session: off to sign in");
        goto(&client, &rig.url("/ui/usage?days=7")).await?;
        let text = body_text(&client).await;
        assert!(text.contains("30, 90 or 365"), "{text}");
        goto(&client, &rig.url("/ui/usage?days=90&by=month")).await?;
        let text = body_text(&client).await;
        assert!(text.contains("Report by month"), "{text}");
        screenshot(&client, &rig.shot("usage-by-month")).await;
        close(client).await
    });
}

fn audit_page_lists_an_admin_revoke(flavor: Flavor) {
    let _serial = serial();
    let case = "audit";
    let rig = Rig::start(case, flavor);
    let host = "cagent-0";
    let grant = rig
        .manager
        .grant_of(host)
        .and_then(|g| g["grant_id"].as_str().map(str::to_owned))
        .expect("cagent-0's grant");
    in_browser(async {
        let client = rig.signed_in(ADMIN).await?;
        goto(
            &client,
            &rig.url(&format!("/ui/actions/revoke?grant={grant}")),
        )
        .await?;
        click(&client, Css("button.danger")).await?;
        wait_for(&client, Css("p.notice")).await?;
        click(&client, LinkText("Audit")).await?;
        let row = row_texts(&client, Css("table.audit tbody tr")).await?;
        let want = ["ops", "admin", "revoke", grant.as_str(), "ok"];
        assert_eq!(
            row.get(1..6)
                .map(|r| r.iter().map(String::as_str).collect::<Vec<_>>()),
            Some(want.to_vec()),
            "the newest row is the revoke: {row:?}"
        );
        screenshot(&client, &rig.shot("audit")).await;
        close(client).await
    });
}

async fn wait_until_async(client: &Client, f: impl Fn(&str) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(u) = client.current_url().await
            && f(u.as_str())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn fits_1280_and_390_wide(flavor: Flavor) {
    let _serial = serial();
    let case = "widths";
    let rig = Rig::start(case, flavor);
    // A refused call gives the audit page a row, with a long target and
    // detail, to lay out.
    let refused =
        support::http::request(rig.manager.addr, "GET", "/v1/status", Some("wrong"), None)
            .expect("GET /v1/status");
    assert_eq!(refused.status, 401, "{}", refused.body);
    in_browser(async {
        for (width, height) in [(1280, 900), (390, 844)] {
            let client = rig.driver.open(width, height).await;
            rig.sign_in(&client, ADMIN).await?;
            for (name, path) in [
                ("overview", "/ui/"),
                ("grants", "/ui/grants"),
                ("usage", "/ui/usage"),
                ("audit", "/ui/audit"),
                ("actions", "/ui/actions"),
            ] {
                goto(&client, &rig.url(path)).await?;
                let (scroll, client_width) = no_horizontal_scroll(&client).await;
                screenshot(&client, &rig.shot(&format!("{name}-{width}"))).await;
                assert!(
                    client_width <= u64::from(width) && client_width + 20 >= u64::from(width),
                    "{path}: the viewport is {client_width} px wide, not about {width}"
                );
                assert!(
                    scroll <= client_width,
                    "{path} at {width} px scrolls sideways: scrollWidth {scroll} > clientWidth {client_width}"
                );
            }
            close(client).await?;
        }
        Ok(())
    });
}

const BROWSER: Need = Need::Other("chromium and chromedriver", || browser::find().map(drop));

/// Each case against each flavor, under libtest's former names
/// (`tokio_server::case`, `smol_server::case`).
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        fn main() -> std::process::ExitCode {
            let mut trials = Vec::new();
            for (module, flavor) in [("tokio_server", Flavor::Tokio), ("smol_server", Flavor::Smol)] {
                $(
                    trials.push(trial(
                        format!("{module}::{}", stringify!($case)),
                        &[flavor.need(), AGENT, BROWSER],
                        move || $case(flavor),
                    ));
                )*
            }
            tenure_testkit::run(trials)
        }
    };
}

both! {
    signs_in_as_viewer_and_admin,
    overview_shows_live_pools,
    admin_revokes_from_the_page,
    viewer_sees_no_action_controls,
    forged_cross_site_post_is_refused,
    fits_1280_and_390_wide,
    admin_installs_a_license_file,
    usage_page_shows_the_days_report,
    audit_page_lists_an_admin_revoke,
}
