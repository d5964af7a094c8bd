//! `tenured demo`: a real manager on embedded SQLite, with a generated
//! development key, license, token file (an admin and a viewer token) and
//! component token file (M10) in a folder of its own. Running it again reuses what the folder has, so the
//! database and its grants survive.

use crate::cli::{DemoArgs, ServeArgs};
use crate::private_files::{create_private, private_dir};
use crate::service::system_clock;
use crate::startup::StartupError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tenure_core::UnixMillis;
use tenure_core::license::{License, Limits, SecretKey, sign};
use tenure_core::names::Name;

pub const DEMO_LICENSEE: &str = "DEVELOPMENT LICENSE - NOT FOR PRODUCTION USE";

/// Creates `path` private (mode 0600, `crate::private_files`): the
/// demo's key and tokens are secrets, and its license and public key need
/// no reader but their owner.
fn write(path: &Path, text: &str) -> Result<(), StartupError> {
    create_private(path, text).map_err(|e| StartupError::Demo(e.to_string()))
}

fn random<const N: usize>() -> Result<[u8; N], StartupError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| StartupError::Read {
        path: "OS random source".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(b)
}

fn dev_license(now: UnixMillis) -> Result<License, StartupError> {
    let name = |s: &str| Name::parse("demo", s).map_err(|e| StartupError::Listen(e.to_string()));
    let mut production = BTreeMap::new();
    production.insert(
        name("vdp")?,
        Limits {
            max_servers: Some(4),
            max_cores_per_server: Some(16),
            max_total_cores: Some(48),
            extra: BTreeMap::new(),
        },
    );
    let mut staging = BTreeMap::new();
    staging.insert(
        name("vdp")?,
        Limits {
            max_servers: Some(10),
            ..Limits::default()
        },
    );
    let mut limits = BTreeMap::new();
    limits.insert(name("production")?, production);
    limits.insert(name("staging")?, staging);
    Ok(License {
        license_id: format!("dev-{}", now.0 / 1000),
        licensee: DEMO_LICENSEE.into(),
        issued_at: now,
        not_before: now.saturating_sub(Duration::from_secs(3600)),
        not_after: now.saturating_add(Duration::from_secs(30 * 86_400)),
        max_managers: 2,
        grace_period_s: tenure_core::license::DEFAULT_GRACE_PERIOD_S,
        limits,
        extra: BTreeMap::new(),
    })
}

/// An admin and a viewer token, 48 hex digits each.
fn token_file() -> Result<String, StartupError> {
    let secret = || -> Result<String, StartupError> {
        Ok(random::<24>()?.iter().map(|b| format!("{b:02x}")).collect())
    };
    Ok(format!(
        "# NAME ROLE SECRET (docs/operations.md)\nadmin admin {}\nviewer viewer {}\n",
        secret()?,
        secret()?
    ))
}

/// One component token (M10): what the demo's curl and agent present.
fn component_token_file() -> Result<String, StartupError> {
    let secret: String = random::<24>()?.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "# NAME ROLE SECRET (docs/operations.md)\ndemo-agent component {secret}\n"
    ))
}

/// What the demo made or found, and the serve arguments that run it.
#[derive(Debug)]
pub struct Demo {
    pub dir: PathBuf,
    pub created: bool,
    /// The admin and viewer secrets, to print for signing in.
    pub tokens: Vec<(String, String)>,
    /// The component token's secret, for the curl example.
    pub component: String,
    pub serve: ServeArgs,
}

pub fn prepare(args: &DemoArgs) -> Result<Demo, StartupError> {
    let dir = &args.dir;
    private_dir(dir).map_err(|e| StartupError::Demo(e.to_string()))?;
    let (key, public, lic, token, component) = (
        dir.join("vendor.key"),
        dir.join("vendor.pub"),
        dir.join("license.lic"),
        dir.join("tokens"),
        dir.join("component.token"),
    );
    // Reused only whole; a folder with some of the three is not a demo's.
    let found = [&key, &public, &lic].map(|p| p.symlink_metadata().is_ok());
    let created = found == [false; 3];
    if created {
        let secret = SecretKey::from_seed(random::<32>()?);
        write(&key, &secret.to_armoured())?;
        write(&public, &secret.verifying_key().to_armoured())?;
        let license = dev_license(system_clock())?;
        let text = sign(&license, &secret).map_err(|e| StartupError::License(e, "demo".into()))?;
        write(&lic, &text)?;
    } else if found != [true; 3] {
        return Err(StartupError::Demo(format!(
            "{} has some of vendor.key, vendor.pub and license.lic but not all; remove it to start afresh",
            dir.display()
        )));
    }
    if token.symlink_metadata().is_err() {
        write(&token, &token_file()?)?;
    }
    if component.symlink_metadata().is_err() {
        write(&component, &component_token_file()?)?;
    }
    let text = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| StartupError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let tokens = text(&token)?;
    let component_secret = secrets(&text(&component)?)
        .into_iter()
        .next()
        .map(|(_, secret)| secret)
        .unwrap_or_default();
    let serve = ServeArgs {
        config: None,
        listen: args.listen,
        database: format!("sqlite://{}", dir.join("tenure.db").display()),
        license: Some(lic),
        vendor_keys: vec![public],
        admin_token_file: token,
        component_token_file: Some(component),
        tls_cert: None,
        tls_key: None,
        node_id: Some("demo".into()),
        renew_every: Duration::from_secs(300),
        lease_ttl: Duration::from_secs(900),
        reclaim_margin: Duration::from_secs(600),
        allow_plaintext: false,
        migrate: true,
        log_format: args.log_format,
        header_read_timeout: Duration::from_secs(10),
        body_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 10_000,
        max_connections_per_ip: crate::per_ip::DEFAULT_MAX_PER_IP,
        max_inflight: 256,
        group_commit: 64,
        db_pool_size: 1,
        db_statement_timeout: Duration::from_secs(5),
        db_keepalive: Duration::from_secs(15),
        drain_timeout: Duration::from_secs(30),
        sweep_every: Duration::from_secs(30),
        usage_retention: crate::reports::DEFAULT_USAGE_RETENTION,
    };
    Ok(Demo {
        dir: dir.clone(),
        created,
        tokens: secrets(&tokens),
        component: component_secret,
        serve,
    })
}

/// `(name, secret)` of each `NAME ROLE SECRET` line.
fn secrets(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter_map(|f| match f.as_slice() {
            [name, _, secret] if !name.starts_with('#') => {
                Some(((*name).to_owned(), (*secret).to_owned()))
            }
            _ => None,
        })
        .collect()
}

/// What `tenured demo` prints before it serves.
pub fn banner(demo: &Demo, url: &str) -> String {
    let d = demo.dir.display();
    let made = if demo.created { "created" } else { "reusing" };
    let component = &demo.component;
    let tokens: String = demo
        .tokens
        .iter()
        .map(|(name, secret)| format!("\x20   {name:<8} {secret}\n"))
        .collect();
    format!(
        "Tenure demo ({made} {d}/):\n\
         \x20 vendor.key / vendor.pub   a generated DEVELOPMENT signing key pair\n\
         \x20 license.lic               a DEVELOPMENT license (30 days): production/vdp 4 servers,\n\
         \x20                           16 cores each, 48 in all; staging/vdp 10 servers\n\
         \x20 tokens                    the token file (mode 0600): an admin and a viewer token\n\
         \x20 component.token           the component token file (mode 0600): grants need it\n\
         \x20 tenure.db                 the embedded SQLite database\n\
         \n\
         The web console: {url}/ui/  sign in with a token:\n\
         {tokens}\
         \n\
         Try, from another terminal:\n\
         \x20 curl -s -X POST {url}/v1/grants -H 'Content-Type: application/json' \\\n\
         \x20      -H 'Authorization: Bearer {component}' \\\n\
         \x20      -d '{{\"product\":\"vdp\",\"hostname\":\"vdp1.example.com\",\"port\":9999,\"cores\":8}}'\n\
         \x20 cargo run -q -p tenure-tokio --bin tenurectl -- status --url {url} --admin-token-file {d}/tokens\n\
         \x20 cargo run -q -p tenure-agent --features cli -- run --manager {url} \\\n\
         \x20      --token-file {d}/component.token --product vdp \\\n\
         \x20      --hostname vdp2.example.com --port 9999 --cores 8 -- sh -c 'echo licensed; sleep 600'\n\
         \n\
         Press Ctrl-C to stop.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, Tokens};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_demo_writes_private_tokens_and_passes_the_start_checks() {
        let dir = std::env::temp_dir().join(format!("tenure-demo-test-{}", std::process::id()));
        let args = DemoArgs {
            dir: dir.clone(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            log_format: crate::cli::LogFormat::Text,
        };
        let demo = prepare(&args).expect("demo");
        assert!(demo.created);
        let mode = |f: &str| {
            std::fs::metadata(dir.join(f))
                .expect("file")
                .permissions()
                .mode()
                & 0o777
        };
        // Private from their first instant (`crate::private_files`).
        assert_eq!(mode(""), 0o700);
        for file in [
            "tokens",
            "component.token",
            "vendor.key",
            "vendor.pub",
            "license.lic",
        ] {
            assert_eq!(mode(file), 0o600, "{file}");
        }
        let components =
            crate::components::ComponentTokens::from_file(&dir.join("component.token"))
                .expect("a valid component token file");
        assert_eq!(components.names(), ["demo-agent"]);
        assert!(matches!(
            components.authenticate(Some(&format!("Bearer {}", demo.component))),
            crate::components::Admission::Token(_)
        ));
        let path = dir.join("tokens");
        let tokens = Tokens::from_file_text(&std::fs::read_to_string(&path).expect("read"))
            .expect("a valid token file");
        let roles: Vec<(String, Role)> = tokens
            .callers()
            .map(|c| (c.name.to_string(), c.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("admin".into(), Role::Admin),
                ("viewer".into(), Role::Viewer)
            ]
        );
        let shown = banner(&demo, "http://127.0.0.1:10091");
        assert!(shown.contains("http://127.0.0.1:10091/ui/"), "{shown}");
        assert!(
            shown.contains(&format!("Authorization: Bearer {}", demo.component))
                && shown.contains("--token-file"),
            "{shown}"
        );
        for (name, secret) in &demo.tokens {
            assert!(shown.contains(secret.as_str()), "{name} in {shown}");
            assert_eq!(
                tokens.check_secret(secret).map(|c| c.name.to_string()),
                Some(name.clone())
            );
        }
        assert_eq!(demo.tokens.len(), 2);
        let settings = crate::settings::Settings::check(demo.serve).expect("§7.1 holds");
        assert_eq!(
            settings.manager(),
            tenure_core::manager::ManagerConfig::default()
        );
        let again = prepare(&args).expect("reused");
        assert!(!again.created);
        assert_eq!(again.tokens, demo.tokens);
        assert!(crate::settings::Settings::check(again.serve).is_ok());
        // A folder others may enter is not reused, nor one half made.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let open = prepare(&args).expect_err("open folder");
        assert!(open.to_string().contains("chmod 700"), "{open}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::remove_file(dir.join("license.lic")).expect("rm");
        let half = prepare(&args).expect_err("half a demo");
        assert!(half.to_string().contains("not all"), "{half}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
