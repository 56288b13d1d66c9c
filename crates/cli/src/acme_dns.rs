//! `wildcert acme-dns register`: the acme-dns set-up. The logic is wildcert-acme-dns's
//! `setup` module; this file reads the flags and prints.

use std::process::ExitCode;

use wildcert_acme_dns::AcmeDnsSettings;
use wildcert_acme_dns::setup::{self, CheckOptions};
use wildcert_dns::LayeredSettings as _;
use wildcert_manager::IssueError;
use wildcert_manager::report::ExitCode as Code;
use wildcert_manager::settings::parse_server_addr;

use crate::args::{AcmeDnsCommand, Global};
use crate::output::Output;

/// Run `wildcert acme-dns register`.
pub async fn run(g: &Global, cmd: AcmeDnsCommand, out: &Output) -> ExitCode {
    let AcmeDnsCommand::Register(a) = cmd;
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let env: std::collections::HashMap<String, String> = loaded.env.clone().into_iter().collect();
    let settings = match AcmeDnsSettings::from_env_map(&env) {
        Ok(s) => s,
        Err(e) => return out.failed(&e.into()),
    };
    let dns = &loaded.settings.dns;
    let addrs = |key: &str, list: &[String]| -> Result<Vec<_>, IssueError> {
        let parsed = list.iter().map(|s| parse_server_addr(key, s));
        Ok(parsed.collect::<Result<_, _>>()?)
    };
    let (resolvers, authoritative) = match (
        addrs("dns.resolvers", &dns.resolvers),
        addrs("dns.authoritative", &dns.authoritative),
    ) {
        (Ok(r), Ok(a)) => (r, a),
        (Err(e), _) | (_, Err(e)) => return out.failed(&e),
    };
    let allow = (!a.allowfrom.is_empty()).then_some(a.allowfrom.as_slice());
    let state = loaded.state_dir();
    let regs = setup::register(&settings, a.api_base.as_deref(), allow, &state, &a.domains).await;
    let regs = match regs {
        Ok(r) => r,
        Err(e) => return out.failed(&e.into()),
    };
    let text = !out.is_json() && !out.is_quiet();
    for r in regs.iter().filter(|_| !out.is_json()) {
        let how = if r.new {
            "registered"
        } else {
            "already registered"
        };
        if text {
            println!(
                "{}: {how} (kept in {}); the zone of {} needs:",
                r.domain,
                r.file.display(),
                r.domain
            );
        }
        println!("{}", r.record());
    }
    let opts = CheckOptions {
        resolvers,
        authoritative,
        wait: a.wait,
    };
    let progress = |line: &str| {
        if text {
            eprintln!("{line}");
        }
    };
    let states = match setup::check_cnames(&regs, &opts, progress).await {
        Ok(s) => s,
        Err(e) => return out.failed(&e.into()),
    };
    let lacking: Vec<String> = states
        .iter()
        .filter_map(|s| {
            Some(format!(
                "{} on {}: {}",
                s.cname,
                s.server,
                s.problem.as_ref()?
            ))
        })
        .collect();
    if !lacking.is_empty() {
        let message = format!(
            "the CNAMEs are not in place after {} s: {}",
            a.wait.as_secs(),
            lacking.join("; ")
        );
        let hint = "add the records above to each name's zone, then run the same command again: it keeps the registrations and only checks";
        return out.error(&message, hint, Code::Dns);
    }
    if out.is_json() {
        out.print_json(
            &serde_json::json!({ "ready": true, "registrations": regs, "servers": states }),
        );
    } else if text {
        println!(
            "ready: every authoritative server serves the CNAMEs ({} answers)",
            states.len()
        );
    }
    ExitCode::SUCCESS
}
