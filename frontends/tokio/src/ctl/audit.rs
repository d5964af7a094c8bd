//! `tenurectl audit`: the audit trail (docs/protocol.md section 6.3), oldest
//! first, as a table or as the server's JSON rows.

use super::admin::{connect, parse_since};
use super::args::{AuditArgs, Format};
use super::table::render;
use anyhow::Context;
use tenure_core::wire::AuditRow;

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let since = parse_since(args.since.as_deref())?;
    let limit = args
        .limit
        .map(|n| usize::try_from(n).context("--limit"))
        .transpose()?;
    let client = connect(&args.admin)?;
    let (rows, more) = client.audit(since, limit).await?;
    if args.format == Format::Json || args.admin.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", text(&rows));
    }
    if more {
        // On stderr: the table or JSON above stays whole for a pipe.
        eprintln!(
            "more rows follow: these are the first {}; run with a later --since, or without --limit, for the rest",
            rows.len()
        );
    }
    Ok(())
}

fn text(rows: &[AuditRow]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.at.clone(),
                r.token_name.clone(),
                r.action.clone(),
                r.target.clone(),
                r.result.clone(),
                r.detail.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    render(
        &["TIME", "TOKEN", "ACTION", "TARGET", "RESULT", "DETAIL"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use tenure_core::UnixMillis;
    use tenure_core::wire::{AuditEntry, AuditResult, AuditRow};

    #[test]
    fn rows_print_as_a_table() {
        let e = AuditEntry::new("ops", "revoke", "0123abcd", AuditResult::Ok);
        let t = super::text(&[AuditRow::new(UnixMillis(1_000), e)]);
        assert_eq!(
            t,
            "TIME                  TOKEN  ACTION  TARGET    RESULT  DETAIL\n\
             1970-01-01T00:00:01Z  ops    revoke  0123abcd  ok      -\n"
        );
    }
}
