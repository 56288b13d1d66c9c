//! `wildcert check`: preflight diagnostics. The flow is `Session::check` (the checks are
//! `wildcert_manager::check`'s); this module loads the settings like `issue` does and prints
//! the report.
//!
//! People get one line per finding, `PASS|WARN|FAIL  <check>  <message>` (plus `hint:` for
//! warn and fail), grouped under `[general]`, `[zone …]` and `[<names>]`; `--json` gets
//! `report::CheckDoc`. The exit code is the report's (docs/troubleshooting.md).

use std::process::ExitCode;

use wildcert_manager::check::{CheckReport, Status};
use wildcert_manager::report::CheckDoc;
use wildcert_manager::session::{CheckCommand, Session, Stopped};

use crate::args::{CheckArgs, Global};
use crate::output::Output;

/// Run the preflight checks and print one line per finding.
pub async fn run(g: &Global, a: CheckArgs, out: &Output) -> ExitCode {
    let loaded = match g.load(|o| {
        if a.no_cname {
            o.follow_cname = Some(false);
        }
    }) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let cmd = CheckCommand {
        names: a.domains,
        provider: a.dns,
        credentials: a.dns_credentials,
        probe: !a.no_probe,
        challenge: a.challenge,
    };
    match Session::check(&loaded, &cmd).await {
        Ok(report) => {
            print_report(&report, out);
            report.exit_code.into()
        }
        Err(Stopped::Interrupted { records_kept }) => out.interrupted(
            records_kept,
            "the probe record (if any) was removed",
            "the probe record is still there",
        ),
        Err(Stopped::Failed(e)) => out.failed(&e),
    }
}

fn print_report(r: &CheckReport, out: &Output) {
    if out.is_json() {
        println!("{}", CheckDoc::from(r).to_line());
        return;
    }
    print!("{}", render(r, out.is_quiet()));
}

/// The human report: findings grouped in order of first appearance.
pub(crate) fn render(r: &CheckReport, quiet: bool) -> String {
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
            exit_code: wildcert_manager::report::ExitCode::Dns,
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
