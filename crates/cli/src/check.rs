//! `wildcert check`: preflight diagnostics. The engine is `wildcert_manager::check`; this
//! module resolves the settings like `issue` does and prints the report.
//!
//! People get one line per finding, `PASS|WARN|FAIL  <check>  <message>` (plus `hint:` for
//! warn and fail), grouped under `[general]`, `[zone …]` and `[<names>]`; `--json` gets one
//! document `{"ok", "exit_code", "names", "findings"}`. Exit codes: 0 no failure, 2 settings,
//! 3 DNS, 4 CAA forbids (docs/troubleshooting.md).

use std::collections::BTreeSet;
use std::process::ExitCode;

use wildcert_dns::Identifier;
use wildcert_manager::IssueError;
use wildcert_manager::check::{CheckOptions, CheckReport, Status, run_check};
use wildcert_manager::issue::RunConfig;

use crate::args::{CheckArgs, Global};
use crate::output::Output;
use crate::{EXIT_INTERRUPTED, build_provider, clean_orphans, interrupted, load_settings};

/// Run the preflight checks and print one line per finding.
pub async fn run(g: &Global, a: CheckArgs, out: &Output) -> ExitCode {
    let mut loaded = match load_settings(g) {
        Ok(l) => l,
        Err(e) => return out.error(&e.to_string(), &e.hint(), e.exit_code()),
    };
    if a.no_cname {
        loaded.settings.dns.follow_cname = Some(false);
    }
    let cfg = match RunConfig::from_settings(&loaded.settings) {
        Ok(c) => c,
        Err(e) => return out.error(&e.to_string(), &e.hint(), e.exit_code()),
    };
    let mut seen = BTreeSet::new();
    let mut ids = Vec::new();
    for n in &a.domains {
        match Identifier::parse(n) {
            Ok(id) => {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
            Err(e) => {
                let e = IssueError::from(e);
                return out.error(&e.to_string(), &e.hint(), e.exit_code());
            }
        }
    }
    let provider = build_provider(&a.dns, &loaded);
    let opts = CheckOptions {
        probe: !a.no_probe,
        provider_id: a.dns.clone(),
    };
    let report = tokio::select! {
        r = run_check(&cfg, &ids, provider, &opts) => r,
        () = interrupted() => {
            // The probe may be published: its journal entry says what to remove.
            if let Ok(store) = wildcert_manager::store::Store::open(&cfg.state_dir) {
                clean_orphans(&store, true, &loaded, &cfg).await;
            }
            return out.error(
                "interrupted; the probe record (if any) was removed",
                "run the command again",
                EXIT_INTERRUPTED,
            );
        }
    };
    print_report(&report, out);
    ExitCode::from(u8::try_from(report.exit_code).unwrap_or(1))
}

fn print_report(r: &CheckReport, out: &Output) {
    if out.is_json() {
        match serde_json::to_string(r) {
            Ok(s) => println!("{s}"),
            Err(e) => println!(
                "{}",
                serde_json::json!({ "ok": false, "error": format!("cannot serialise the report: {e}") })
            ),
        }
        return;
    }
    print!("{}", render(r, out.is_quiet()));
}

/// The human report: findings grouped in order of first appearance.
fn render(r: &CheckReport, quiet: bool) -> String {
    let mut groups: Vec<&str> = Vec::new();
    for f in &r.findings {
        if !groups.contains(&f.group.as_str()) {
            groups.push(&f.group);
        }
    }
    let width = r.findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
    let mut s = String::new();
    for g in groups {
        let lines: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.group == g && (!quiet || f.status == Status::Fail))
            .collect();
        if lines.is_empty() {
            continue;
        }
        s.push_str(&format!("[{g}]\n"));
        for f in lines {
            s.push_str(&format!(
                "{}  {:<width$}  {}\n",
                f.status.label(),
                f.check,
                f.message
            ));
            if let Some(h) = &f.hint {
                s.push_str(&format!("      {:<width$}  hint: {h}\n", ""));
            }
        }
    }
    let count = |st: Status| r.findings.iter().filter(|f| f.status == st).count();
    if !quiet || !r.ok {
        s.push_str(&format!(
            "{}: {} pass, {} warn, {} fail{}\n",
            if r.ok { "ok" } else { "FAILED" },
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            if r.ok {
                String::new()
            } else {
                format!(" (exit {})", r.exit_code)
            }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_manager::check::{Area, Finding};

    fn finding(group: &str, check: &str, status: Status, hint: Option<&str>) -> Finding {
        Finding {
            group: group.into(),
            check: check.into(),
            status,
            message: format!("{check} message"),
            hint: hint.map(String::from),
            area: Area::Dns,
        }
    }

    #[test]
    fn groups_lines_and_hints() {
        let r = CheckReport {
            ok: false,
            exit_code: 3,
            names: vec!["example.test".into()],
            findings: vec![
                finding("general", "provider", Status::Pass, None),
                finding(
                    "zone example.test",
                    "nameserver",
                    Status::Fail,
                    Some("fix it"),
                ),
                finding("general", "ca", Status::Warn, Some("meh")),
            ],
        };
        let text = render(&r, false);
        assert_eq!(
            text,
            "[general]\n\
             PASS  provider    provider message\n\
             WARN  ca          ca message\n\
             \x20                 hint: meh\n\
             [zone example.test]\n\
             FAIL  nameserver  nameserver message\n\
             \x20                 hint: fix it\n\
             FAILED: 1 pass, 1 warn, 1 fail (exit 3)\n"
        );
        let quiet = render(&r, true);
        assert!(
            !quiet.contains("PASS") && quiet.contains("FAIL  nameserver"),
            "{quiet}"
        );
    }
}
