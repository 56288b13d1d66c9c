//! `wildcert persist`: publish (once), print or remove the standing dns-persist-01 record
//! of names for the account stored for this CA (registered if needed).

use std::process::ExitCode;

use wildcert_manager::persist::{PersistAction, PersistOutcome};
use wildcert_manager::report::PersistDoc;
use wildcert_manager::session::{PersistCommand, Session};

use crate::args::{Global, PersistArgs};
use crate::output::Output;

/// Run `wildcert persist`.
pub async fn run(g: &Global, a: PersistArgs, out: &Output) -> ExitCode {
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let action = if a.print {
        PersistAction::Print
    } else if a.remove {
        PersistAction::Remove
    } else {
        PersistAction::Publish
    };
    let cmd = PersistCommand {
        names: a.domains,
        provider: a.dns,
        wildcard: a.wildcard,
        until: a.until,
        issuer: a.issuer,
        action,
    };
    let done = match Session::open(&loaded) {
        Ok(session) => session.persist(&cmd).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(o) => {
            print(&o, out);
            ExitCode::SUCCESS
        }
        Err(e) => out.failed(&e),
    }
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
