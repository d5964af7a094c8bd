use super::args::{AdminArgs, InstallArgs, ReleaseArgs, RevokeArgs, UsageArgs};
use super::summary::shown;
use super::table::render;
use anyhow::Context;
use std::future::Future;
use tenure_core::duration::parse_duration;
use tenure_core::rfc3339::{self, display};
use tenure_core::wire::{GrantView, ReleaseRequest, StatusView, UsageRow};
use tenure_core::{GrantId, UnixMillis};
use tenure_tokio::client::{AdminClient, paths};

/// The admin commands are one request each: a current-thread runtime is plenty.
pub fn blocking(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

pub(super) fn connect(args: &AdminArgs) -> anyhow::Result<AdminClient> {
    let token = AdminClient::read_token(&args.admin_token_file)?;
    let timeout = parse_duration(&args.request_timeout).context("--request-timeout")?;
    Ok(AdminClient::new(
        &args.url,
        token,
        args.ca_cert.as_deref(),
        timeout,
    )?)
}

pub async fn status(args: AdminArgs) -> anyhow::Result<()> {
    let client = connect(&args)?;
    if args.json {
        return print_raw(client.get_raw(paths::STATUS).await?);
    }
    print!("{}", status_text(&client.status().await?));
    Ok(())
}

pub async fn grants(args: AdminArgs) -> anyhow::Result<()> {
    let client = connect(&args)?;
    let grants = client.grants().await?;
    if args.json {
        // Every page, as one array: the server's answers are pages.
        println!("{}", serde_json::to_string_pretty(&grants)?);
        return Ok(());
    }
    print!("{}", grants_text(&grants));
    Ok(())
}

/// `--since` as an instant, when given.
pub(super) fn parse_since(since: Option<&str>) -> anyhow::Result<Option<UnixMillis>> {
    since.map(rfc3339::parse).transpose().context("--since")
}

pub async fn usage(args: UsageArgs) -> anyhow::Result<()> {
    let since = parse_since(args.since.as_deref())?;
    let client = connect(&args.admin)?;
    if args.admin.json {
        let path = match since {
            None => paths::USAGE.to_owned(),
            Some(t) => format!("{}?since={}", paths::USAGE, display(t)),
        };
        return print_raw(client.get_raw(&path).await?);
    }
    print!("{}", usage_text(&client.usage(since).await?));
    Ok(())
}

pub async fn release(args: ReleaseArgs) -> anyhow::Result<()> {
    let client = connect(&args.admin)?;
    let request = ReleaseRequest {
        environment: args.environment.clone(),
        product: Some(args.product.clone()),
        hostname: Some(args.hostname.clone()),
        port: Some(i64::from(args.port)),
    };
    // Validating here gives the operator the same message the server would.
    request.validate().context("release")?;
    client.release(&request).await?;
    println!(
        "released the grant of {}/{} {}:{}",
        args.environment.as_deref().unwrap_or("production"),
        args.product,
        args.hostname,
        args.port
    );
    Ok(())
}

pub async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let grant_id = GrantId::parse(&args.grant_id).context("GRANT_ID")?;
    let client = connect(&args.admin)?;
    client.revoke(grant_id).await?;
    println!("revoked grant {grant_id}: its component stops at its next renewal");
    Ok(())
}

pub async fn install_license(args: InstallArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let client = connect(&args.admin)?;
    let answer = client.install_license(text).await?;
    if args.admin.json {
        return print_raw(answer);
    }
    println!("installed {}", args.file.display());
    Ok(())
}

pub(super) fn print_raw(text: String) -> anyhow::Result<()> {
    // Pretty when it is JSON, as-is when not: --json never hides what came back.
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Err(_) => println!("{text}"),
    }
    Ok(())
}

fn time(ms: i64) -> String {
    display(UnixMillis(ms)).to_string()
}

fn status_text(s: &StatusView) -> String {
    let mut out = format!(
        "license:   {} ({})\nexpires:   {} (in {})\nmanagers:  at most {}\n\n",
        s.license_id,
        s.licensee,
        time(s.license_not_after_ms),
        tenure_core::duration::format_duration(std::time::Duration::from_secs(
            s.license_expires_in_s
        )),
        s.max_managers
    );
    let pools: Vec<Vec<String>> = s
        .pools
        .iter()
        .map(|p| {
            vec![
                format!("{}/{}", p.environment, p.product),
                format!("{}/{}", p.servers, shown(p.max_servers)),
                format!("{}/{}", p.total_cores, shown(p.max_total_cores)),
                shown(p.max_cores_per_server),
            ]
        })
        .collect();
    out.push_str(&render(
        &["POOL", "SERVERS", "TOTAL CORES", "MAX CORES/SERVER"],
        &pools,
    ));
    out.push('\n');
    let managers: Vec<Vec<String>> = s
        .managers
        .iter()
        .map(|m| {
            vec![
                m.node_id.clone(),
                yes_no(m.live),
                yes_no(m.serving),
                time(m.last_seen_ms),
                m.clock_offset_ms
                    .map_or_else(|| "-".into(), |o| format!("{o} ms")),
            ]
        })
        .collect();
    out.push_str(&render(
        &["MANAGER", "LIVE", "SERVING", "LAST SEEN", "CLOCK OFFSET"],
        &managers,
    ));
    out
}

fn grants_text(grants: &[GrantView]) -> String {
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            vec![
                g.grant_id.to_string(),
                format!("{}/{}", g.instance.environment, g.instance.product),
                format!("{}:{}", g.instance.hostname, g.instance.port),
                g.facts.cores.to_string(),
                format!("{:?}", g.state).to_lowercase(),
                time(g.last_renewed_ms),
                time(g.held_until_ms),
                g.client_skew_ms
                    .map_or_else(|| "-".into(), |o| format!("{o} ms")),
            ]
        })
        .collect();
    render(
        &[
            "GRANT ID",
            "POOL",
            "INSTANCE",
            "CORES",
            "STATE",
            "LAST RENEWED",
            "HELD UNTIL",
            "SKEW",
        ],
        &rows,
    )
}

fn usage_text(rows: &[UsageRow]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|u| {
            vec![
                format!("{}/{}", u.instance.environment, u.instance.product),
                format!("{}:{}", u.instance.hostname, u.instance.port),
                u.facts.cores.to_string(),
                time(u.first_request_ms),
                time(u.last_request_ms),
                time(u.ended_ms),
                u.end_reason.as_str().to_owned(),
                u.license_id.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    render(
        &[
            "POOL",
            "INSTANCE",
            "CORES",
            "FIRST REQUEST",
            "LAST REQUEST",
            "ENDED",
            "REASON",
            "LICENSE",
        ],
        &rows,
    )
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}
