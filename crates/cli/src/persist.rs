//! `wildcert persist`: publish (once), print or remove the standing dns-persist-01 record
//! of names for the account stored for this CA (registered if needed).

use std::process::ExitCode;

use wildcert_manager::persist::{PersistAction, PersistOptions, PersistOutcome, parse_until};
use wildcert_manager::report::PersistDoc;
use wildcert_manager::session::Session;
use wildcert_manager::{IssueError, account};

use crate::args::{Global, PersistArgs};
use crate::load_settings;
use crate::output::Output;

/// Run `wildcert persist`.
pub async fn run(g: &Global, a: PersistArgs, out: &Output) -> ExitCode {
    match persist(g, a).await {
        Ok(o) => {
            print(&o, out);
            ExitCode::SUCCESS
        }
        Err(e) => out.error(&e.to_string(), &e.hint(), e.exit_code()),
    }
}

async fn persist(g: &Global, a: PersistArgs) -> Result<PersistOutcome, IssueError> {
    let loaded = load_settings(g, |_| {})?;
    let action = if a.print {
        PersistAction::Print
    } else if a.remove {
        PersistAction::Remove
    } else {
        PersistAction::Publish
    };
    let opts = PersistOptions {
        names: a.domains.clone(),
        wildcard: a.wildcard,
        persist_until: a.until.as_deref().map(parse_until).transpose()?,
        issuer: a.issuer.clone(),
        action,
    };
    let session = Session::open(&loaded)?;
    // The provider is built (and its credentials read) only to publish or remove.
    let provider = match (&a.dns, action) {
        (Some(id), PersistAction::Publish | PersistAction::Remove) => {
            Some(session.providers.get(id)?)
        }
        _ => None,
    };
    let client = session.cfg.acme_client().await?;
    let account = account::load_or_create(&session.store, &client, &session.cfg.account).await?;
    wildcert_manager::persist::persist(&session.cfg.dns, &account, provider, &opts).await
}

fn print(o: &PersistOutcome, out: &Output) {
    if out.is_json() {
        out.print_json(&PersistDoc::from(o));
        return;
    }
    match o.action {
        // The zone-file lines alone on stdout, ready to paste or pipe.
        PersistAction::Print => {
            for r in &o.records {
                println!("{}", r.zone_file_line);
            }
        }
        PersistAction::Publish if !out.is_quiet() => {
            for r in &o.records {
                println!("published {} TXT \"{}\"", r.record_name, r.value);
            }
            println!(
                "served by every authoritative server ({}); left in place: renewals with dns-persist-01 need no DNS credentials",
                o.servers
            );
        }
        PersistAction::Remove if !out.is_quiet() => {
            for r in &o.records {
                println!("removed {} TXT \"{}\"", r.record_name, r.value);
            }
        }
        _ => {}
    }
}
