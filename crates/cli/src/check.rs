//! `wildcert check`: preflight diagnostics. The engine is `wildcert_manager::check`; this
//! module resolves the settings like `issue` does and prints the report.
//!
//! People get one line per finding, `PASS|WARN|FAIL  <check>  <message>` (plus `hint:` for
//! warn and fail), grouped under `[general]`, `[zone …]` and `[<names>]`; `--json` gets one
//! document `{"ok", "exit_code", "names", "findings"}`. Exit codes: 0 no failure, 2 settings,
//! 3 DNS, 4 CAA forbids (docs/troubleshooting.md).

use std::process::ExitCode;

use wildcert_manager::NamedProvider;
use wildcert_manager::check::{
    CheckOptions, CheckReport, Status, merge_reports, run_check, run_persist_check,
};
use wildcert_manager::report::CheckDoc;
use wildcert_manager::session::{Session, Stopped};
use wildcert_manager::settings::SettingsError;
use wildcert_manager::{ExitCode as Code, IssueError, Names};

use crate::args::{CheckArgs, Global};
use crate::load_settings;
use crate::output::Output;

/// Run the preflight checks and print one line per finding.
pub async fn run(g: &Global, mut a: CheckArgs, out: &Output) -> ExitCode {
    // Absolute: the journal records it for a later run's cleanup.
    a.dns_credentials = a
        .dns_credentials
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let prepared = load_settings(g, |o| {
        if a.no_cname {
            o.follow_cname = Some(false);
        }
    })
    .and_then(|loaded| Ok((Names::parse(&a.domains)?, loaded)));
    let (names, loaded) = match prepared {
        Ok(x) => x,
        Err(e) => return fail(out, &e),
    };
    let session = match Session::open(&loaded) {
        Ok(s) => s,
        // `check` reports a store it cannot open as a finding; the rest still runs.
        Err(IssueError::Store(_)) => return plain(&loaded, &names, &a, out).await,
        Err(e) => return fail(out, &e),
    };
    let opts = CheckOptions {
        probe: !a.no_probe,
        provider_id: a.dns.clone().unwrap_or_default(),
        dns_account: a.challenge.as_deref() == Some("dns-account-01"),
        credentials: a.dns_credentials.clone(),
    };
    let challenge = a.challenge.as_deref().unwrap_or("dns-01");
    let work = async {
        if challenge == "dns-persist-01" {
            // The standing record only: no provider, no credentials.
            return run_persist_check(&session.cfg, &names, true).await;
        }
        let provider = provider_for(a.dns.as_deref(), |id| {
            session.providers.get_with(id, a.dns_credentials.as_deref())
        });
        let report = run_check(&session.cfg, &names, provider, &opts).await;
        if challenge == "auto" {
            merge_reports(report, run_persist_check(&session.cfg, &names, false).await)
        } else {
            report
        }
    };
    match session.guard(work).await {
        Ok(report) => {
            print_report(&report, out);
            report.exit_code.into()
        }
        Err(Stopped::Interrupted) => out.error(
            "interrupted; the probe record (if any) was removed",
            "run the command again",
            Code::Interrupted,
        ),
        Err(Stopped::Failed(e)) => fail(out, &e),
    }
}

/// `check` without a usable store: no journal, no recovery; the report says why.
async fn plain(
    loaded: &wildcert_manager::Loaded,
    names: &Names,
    a: &CheckArgs,
    out: &Output,
) -> ExitCode {
    let cfg = match wildcert_manager::RunConfig::from_settings(&loaded.settings) {
        Ok(c) => c,
        Err(e) => return fail(out, &e),
    };
    let providers = wildcert_manager::providers::Providers::new(loaded);
    let opts = CheckOptions {
        probe: !a.no_probe,
        provider_id: a.dns.clone().unwrap_or_default(),
        dns_account: a.challenge.as_deref() == Some("dns-account-01"),
        credentials: a.dns_credentials.clone(),
    };
    let report = if a.challenge.as_deref() == Some("dns-persist-01") {
        run_persist_check(&cfg, names, true).await
    } else {
        let provider = provider_for(a.dns.as_deref(), |id| {
            providers.get_with(id, a.dns_credentials.as_deref())
        });
        run_check(&cfg, names, provider, &opts).await
    };
    print_report(&report, out);
    report.exit_code.into()
}

/// The provider `--dns` names; without `--dns`, a settings finding.
fn provider_for(
    id: Option<&str>,
    get: impl Fn(&str) -> Result<NamedProvider, IssueError>,
) -> Result<NamedProvider, IssueError> {
    match id {
        Some(id) => get(id),
        None => Err(IssueError::Settings(SettingsError::Value {
            key: "--dns".into(),
            message:
                "no DNS provider given: --dns PROVIDER is needed unless --challenge dns-persist-01"
                    .into(),
        })),
    }
}

fn fail(out: &Output, e: &IssueError) -> ExitCode {
    out.error(&e.to_string(), &e.hint(), e.exit_code())
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
            exit_code: Code::Dns,
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
