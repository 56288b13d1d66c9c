//! `wildcert list | show NAME | revoke NAME | account register|show|rollover|deactivate`.
//!
//! The work is done by the session (`Session::list`, `show`, `revoke`, …); this module asks for
//! confirmation where needed and prints: `--json` gets one `report` document, or the error
//! shape of [`Output::error`].

use std::fmt::Write as _;
use std::process::ExitCode;

use serde::Serialize;
use wildcert_manager::IssueError;
use wildcert_manager::commands::{
    AccountInfo, CertDetails, CertSummary, Deactivated, RenewalSource, Revoked, RolledOver,
};
use wildcert_manager::renew::Decision;
use wildcert_manager::report::{
    AccountDoc, DeactivateDoc, DeleteDoc, ExitCode as Code, ListDoc, RevokeDoc, RolloverDoc,
    ShowDoc,
};
use wildcert_manager::session::Session;

use crate::args::{AccountCommand, DeleteArgs, Global, RevokeArgs, ShowArgs};
use crate::output::Output;

/// What an admin command was asked to do.
pub enum AdminCommand {
    /// `wildcert list [--prometheus]`.
    List {
        /// Print the Prometheus metrics instead.
        prometheus: bool,
    },
    /// `wildcert show NAME`.
    Show(ShowArgs),
    /// `wildcert revoke NAME`.
    Revoke(RevokeArgs),
    /// `wildcert account …`.
    Account(AccountCommand),
    /// `wildcert delete NAME`.
    Delete(DeleteArgs),
}

/// Run one admin command.
pub async fn run(g: &Global, cmd: AdminCommand, out: &Output) -> ExitCode {
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    if let AdminCommand::Account(AccountCommand::Deactivate { yes: false }) = cmd {
        return out.error(
            "deactivating the ACME account cannot be undone, so it needs confirmation",
            "run `wildcert account deactivate --yes`",
            Code::Settings,
        );
    }
    if let AdminCommand::Delete(a) = &cmd
        && !a.yes
        && let Err(code) = confirm_delete(a, out)
    {
        return code;
    }
    // `list` and `show` only read: a consumer's read-only role may run them.
    let reads_only = matches!(cmd, AdminCommand::List { .. } | AdminCommand::Show(_));
    let opened = match reads_only {
        true => Session::open_reading(&loaded),
        false => Session::open(&loaded),
    };
    let done = match opened {
        Ok(session) => dispatch(cmd, &session, out).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => out.failed(&e),
    }
}

async fn dispatch(cmd: AdminCommand, s: &Session<'_>, out: &Output) -> Result<(), IssueError> {
    match cmd {
        AdminCommand::List { prometheus: true } => print!("{}", s.prometheus()?),
        AdminCommand::List { prometheus: false } => {
            let certs = s.list()?;
            print(out, &ListDoc::new(&certs), || {
                print!("{}", render_list(&certs, &s.cfg.state_dir));
            });
        }
        AdminCommand::Show(a) => {
            let d = s.show(&a.name)?;
            print(out, &ShowDoc::from(&d), || print_show(&d));
        }
        AdminCommand::Revoke(a) => {
            let r = s
                .revoke(&a.name, a.reason.as_deref(), a.with_cert_key)
                .await?;
            print(out, &RevokeDoc::from(&r), || print_revoked(&r));
        }
        AdminCommand::Delete(a) => {
            let d = s.delete(&a.name, a.revoke).await?;
            print(out, &DeleteDoc::from(&d), || {
                if let Some(r) = &d.revoked {
                    print_revoked(r);
                }
                println!("Deleted {} ({}).", d.name, d.dir.display());
            });
        }
        AdminCommand::Account(AccountCommand::Register) => {
            let a = s.account_register().await?;
            print(out, &AccountDoc::from(&a), || print_account(&a));
        }
        AdminCommand::Account(AccountCommand::Show) => {
            let a = s.account_show().await?;
            print(out, &AccountDoc::from(&a), || print_account(&a));
        }
        AdminCommand::Account(AccountCommand::Rollover { key_type }) => {
            let r = s.account_rollover(key_type.as_deref()).await?;
            print(out, &RolloverDoc::from(&r), || print_rollover(&r));
        }
        AdminCommand::Account(AccountCommand::Deactivate { .. }) => {
            let d = s.account_deactivate().await?;
            print(out, &DeactivateDoc::from(&d), || print_deactivated(&d));
        }
    }
    Ok(())
}

/// Ask on the terminal before `delete`; without a terminal, refuse (exit 2) unless `--yes`.
fn confirm_delete(a: &DeleteArgs, out: &Output) -> Result<(), ExitCode> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(out.error(
            &format!(
                "`delete {}` needs confirmation and stdin is not a terminal",
                a.name
            ),
            &format!("run `wildcert delete {} --yes`", a.name),
            Code::Settings,
        ));
    }
    let what = if a.revoke {
        "Revoke and delete"
    } else {
        "Delete"
    };
    eprint!(
        "{what} the certificate `{}` and all its versions? [y/N] ",
        a.name
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let answer = std::io::stdin().lock().read_line(&mut line);
    if answer.is_ok() && matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(out.error("not deleted", "answer `y` to delete", Code::Settings))
    }
}

/// The document with `--json`; else the human form (unless `-q`).
fn print<T: Serialize>(out: &Output, doc: &T, human: impl FnOnce()) {
    if out.is_json() {
        out.print_json(doc);
    } else if !out.is_quiet() {
        human();
    }
}

/// The human table of `wildcert list`.
pub(crate) fn render_list(certs: &[CertSummary], state_dir: &std::path::Path) -> String {
    let mut out = String::new();
    if certs.is_empty() {
        let _ = writeln!(out, "No certificates in {}.", state_dir.display());
        return out;
    }
    let width = certs.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>5}  {:<20}  {:>3}  {:<12}  NAMES",
        "NAME", "DAYS", "NOT AFTER", "VER", "PROVIDER"
    );
    for c in certs {
        if let Some(e) = &c.error {
            let _ = writeln!(out, "{:<width$}  {e}", c.name);
            continue;
        }
        let days = c
            .days_left
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into());
        let version = c
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<width$}  {:>5}  {:<20}  {:>3}  {:<12}  {}",
            c.name,
            days,
            c.not_after.as_deref().unwrap_or("not issued"),
            version,
            c.provider,
            c.names.join(", ")
        );
        if let Some(t) = &c.revoked_at {
            let _ = writeln!(
                out,
                "{:<width$}  revoked at {t}; the next `renew` issues a new one",
                ""
            );
        }
        if let Some(e) = &c.last_error {
            let _ = writeln!(out, "{:<width$}  last error: {e}", "");
        }
    }
    out
}

fn print_show(d: &CertDetails) {
    println!("Certificate `{}`", d.name);
    println!("  names:       {}", d.meta.names.join(", "));
    match &d.live {
        Some(l) => {
            println!("  issuer:      {}", l.issuer.as_deref().unwrap_or("?"));
            println!("  serial:      {}", l.serial);
            println!(
                "  valid:       {} to {} ({} days left)",
                l.not_before, l.not_after, l.days_left
            );
            let sorted = |v: &[String]| {
                let mut v = v.to_vec();
                v.sort();
                v
            };
            if sorted(&l.names) != sorted(&d.meta.names) {
                println!("  in cert:     {}", l.names.join(", "));
            }
        }
        None => println!(
            "  live:        {}",
            d.live_error.as_deref().unwrap_or("none")
        ),
    }
    let versions: Vec<String> = d.archive_versions.iter().map(u32::to_string).collect();
    println!(
        "  key:         {}   provider: {}   version: {} (archive: {})",
        d.meta.key_type,
        d.meta.provider,
        d.meta
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into()),
        if versions.is_empty() {
            "empty".to_string()
        } else {
            versions.join(", ")
        }
    );
    if d.meta.challenge.is_some() || d.meta.profile.is_some() {
        println!(
            "  validated:   {}   profile: {}",
            d.meta.challenge.as_deref().unwrap_or("-"),
            d.meta.profile.as_deref().unwrap_or("(the CA's default)")
        );
    }
    println!("  files:       {}", d.live_dir.display());
    for (k, p) in &d.files {
        println!("    {k:<10} {}", p.display());
    }
    let source = match d.renewal.source {
        RenewalSource::Config => "[[certificate]] in the config",
        RenewalSource::Recorded => "recorded by issue; `renew` renews it with that request",
        RenewalSource::None => {
            "default rule; no [[certificate]] names it, so `renew` does not handle it"
        }
    };
    let server = d.meta.request.as_ref().map(|r| r.server.as_str());
    if let (RenewalSource::Recorded, Some(server)) = (d.renewal.source, server) {
        println!("  recorded:    issue's request, renewed against {server}");
    }
    match &d.renewal.decision {
        Decision::Skip { due, rule } => println!("  renewal:     due {due} ({rule}; {source})"),
        Decision::Renew { reason } => println!("  renewal:     due now: {reason} ({source})"),
        Decision::Issue { reason } => println!("  renewal:     issue anew: {reason} ({source})"),
    }
    if let Some(t) = &d.meta.revoked_at {
        println!("  revoked:     {t}");
    }
    if let Some(o) = &d.meta.pending_order {
        println!("  pending:     {o}");
    }
    if let Some(e) = &d.meta.last_error {
        println!("  last error:  {e}");
    }
}

fn print_revoked(r: &Revoked) {
    let reason = r.reason.as_deref().unwrap_or("unspecified");
    if r.already_revoked {
        println!(
            "Certificate `{}` (serial {}) was already revoked at the CA; marked for re-issue.",
            r.name, r.serial
        );
    } else {
        println!(
            "Certificate `{}` (serial {}) revoked (reason: {reason}, signed with the {}).",
            r.name,
            r.serial,
            r.signed_with.replace('_', " ")
        );
    }
    println!(
        "The next `wildcert renew` issues a new one; until then servers keep the revoked one."
    );
}

fn print_account(a: &AccountInfo) {
    match a.registered_now {
        Some(true) => println!("Account registered: {}", a.url),
        Some(false) => println!("Account already registered: {}", a.url),
        None => println!("Account {}", a.url),
    }
    println!("  status:      {}", a.ca.status);
    println!("  directory:   {}", a.directory);
    let contact = if a.ca.contact.is_empty() {
        "none".to_string()
    } else {
        a.ca.contact.join(", ")
    };
    println!("  contact:     {contact}");
    println!(
        "  key:         {} ({}), thumbprint {}",
        a.key.key_type, a.key.algorithm, a.key.thumbprint
    );
    if let Some(c) = &a.created {
        println!("  created:     {c}");
    }
    if let Some(t) = &a.terms_of_service {
        println!("  terms:       {t}");
    }
    println!("  stored in:   {}", a.dir.display());
    if let Some(r) = a.recovered_rollover {
        println!("  note:        an interrupted key rollover was {r}");
    }
}

fn print_rollover(r: &RolledOver) {
    println!("Account key replaced for {}", r.url);
    println!(
        "  old key:     {} ({}), thumbprint {}",
        r.old_key.key_type, r.old_key.algorithm, r.old_key.thumbprint
    );
    println!(
        "  new key:     {} ({}), thumbprint {}",
        r.new_key.key_type, r.new_key.algorithm, r.new_key.thumbprint
    );
    println!("  stored in:   {}", r.key_path.display());
}

fn print_deactivated(d: &Deactivated) {
    println!("Account {} is {} at the CA.", d.url, d.status);
    println!("  moved to:    {}", d.moved_to.display());
    println!("The next `issue` or `renew` registers a new account.");
}

/// `wildcert import certbot|lego`.
pub async fn import(g: &Global, a: crate::args::ImportCommand, out: &Output) -> ExitCode {
    use wildcert_manager::import::ImportSource;
    let (source, write_config) = match a {
        crate::args::ImportCommand::Certbot {
            config_dir,
            write_config,
        } => (ImportSource::Certbot { config_dir }, write_config),
        crate::args::ImportCommand::Lego {
            path,
            dns,
            write_config,
        } => (ImportSource::Lego { path, dns }, write_config),
    };
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let report = match wildcert_manager::session::Session::open(&loaded) {
        Ok(s) => s.import(&source, write_config.as_deref()).await,
        Err(e) => Err(e),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return out.failed(&e),
    };
    let doc = wildcert_manager::report::ImportDoc::from(&report);
    if out.is_json() {
        out.print_json(&doc);
    } else {
        for c in &doc.certificates {
            match &c.skipped {
                Some(why) => eprintln!("skipped  {}: {why}", c.name),
                None if !out.is_quiet() => println!(
                    "imported {}: {} ({} version{}), renews with {} at {}",
                    c.name,
                    c.names.join(", "),
                    c.versions,
                    if c.versions == 1 { "" } else { "s" },
                    c.provider.as_deref().unwrap_or("-"),
                    c.server
                ),
                None => {}
            }
            if !out.is_quiet() {
                for n in &c.not_carried {
                    println!("  not carried over: {n}");
                }
            }
        }
        if !out.is_quiet() {
            for a in &doc.accounts {
                println!("account  {a}");
            }
            if let Some(c) = &doc.config {
                println!("wrote {c}: check it with `wildcert --config {c} config check`");
            }
        }
    }
    if doc.ok {
        ExitCode::SUCCESS
    } else {
        wildcert_manager::report::ExitCode::Settings.into()
    }
}
