//! `wildcert sync --to DIR …`: a consumer pulls the live versions from the shared store
//! (`wildcert_manager::sync`) and this module prints what was written.

use std::process::ExitCode;

use wildcert_manager::install::Layout;
use wildcert_manager::report::SyncDoc;
use wildcert_manager::sync::{SyncOptions, SyncReport, SyncStatus};

use crate::args::{Global, SyncArgs};
use crate::output::Output;

/// Run `sync` once.
pub async fn run(g: &Global, a: SyncArgs, out: &Output) -> ExitCode {
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let opts = SyncOptions {
        to: a.to,
        cert_names: a.cert_names,
        layout: if a.layout == "lego" {
            Layout::Lego
        } else {
            Layout::Pem
        },
        owner: a.owner,
        group: a.group,
        key_mode: a.key_mode,
        reload: a.reload,
    };
    let report = match wildcert_manager::session::sync(&loaded, &opts).await {
        Ok(r) => r,
        Err(e) => return out.failed(&e),
    };
    if out.is_json() {
        out.print_json(&SyncDoc::from(&report));
    } else {
        let (stdout, stderr) = render(&report);
        if !out.is_quiet() {
            print!("{stdout}");
        }
        eprint!("{stderr}");
    }
    report.exit_code().into()
}

/// The human report: what was written (stdout) and what failed (stderr).
fn render(r: &SyncReport) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    for c in &r.certs {
        let v = c
            .version
            .map(|v| format!(" version {v}"))
            .unwrap_or_default();
        match c.status {
            SyncStatus::Written => out.push_str(&format!(
                "{}:{v} written into {}\n",
                c.name,
                r.dir.display()
            )),
            SyncStatus::Failed => err.push_str(&format!(
                "error: {}:{v} not written: {}\n",
                c.name,
                c.error.as_deref().unwrap_or("failed")
            )),
            SyncStatus::Unchanged | SyncStatus::NotIssued => {}
        }
    }
    if !r.changed() && r.certs.iter().all(|c| c.status != SyncStatus::Failed) {
        out.push_str(&format!("{} is up to date.\n", r.dir.display()));
    }
    if let Some(h) = &r.reload {
        match h.ok {
            true => out.push_str(&format!("reloaded: {}\n", h.command)),
            false => err.push_str(&format!(
                "error: the reload failed ({}): {}\n  hint: the files are written; the next sync runs the reload again\n",
                h.command,
                h.error.as_deref().unwrap_or("failed")
            )),
        }
    }
    (out, err)
}
