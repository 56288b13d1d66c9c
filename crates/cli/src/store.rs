//! `wildcert store migrate --to postgresql://…|DIR`: the work is
//! `wildcert_manager::commands::migrate`; this module prints its report.

use std::process::ExitCode;

use wildcert_manager::RunConfig;
use wildcert_manager::commands::migrate::{MigrateTarget, migrate};
use wildcert_manager::report::MigrateDoc;

use crate::args::{Global, StoreCommand};
use crate::output::Output;

/// Run one `store` command.
pub async fn run(g: &Global, cmd: StoreCommand, out: &Output) -> ExitCode {
    let StoreCommand::Migrate(a) = cmd;
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let cfg = match RunConfig::from_settings(&loaded.settings) {
        Ok(c) => c,
        Err(e) => return out.failed(&e),
    };
    let report = match migrate(&cfg, &MigrateTarget::parse(&a.to), a.replace).await {
        Ok(r) => r,
        Err(e) => return out.failed(&e),
    };
    let doc = MigrateDoc::from(&report);
    if out.is_json() {
        out.print_json(&doc);
        return doc.exit_code.into();
    }
    for c in doc.certificates.iter().chain(&doc.accounts) {
        if let Some(e) = &c.error {
            eprintln!("failed   {}: {e}", c.name);
        }
    }
    if out.is_quiet() {
        return doc.exit_code.into();
    }
    println!("From {} to {}:", doc.from, doc.to);
    for c in &doc.certificates {
        if c.error.is_some() {
            continue;
        }
        let versions: Vec<String> = c.versions.iter().map(u32::to_string).collect();
        println!(
            "{:<8} certificate {}: version{} {} (live {}), {} files verified",
            c.status,
            c.name,
            if c.versions.len() == 1 { "" } else { "s" },
            versions.join(", "),
            c.live.map_or("none".to_owned(), |v| v.to_string()),
            c.files
        );
    }
    for a in doc.accounts.iter().filter(|a| a.error.is_none()) {
        println!(
            "{:<8} account {}: {} files verified",
            a.status, a.name, a.files
        );
    }
    if !doc.ok {
        eprintln!(
            "error: not everything was copied (see above); what failed is not in the target, the source is unchanged"
        );
        eprintln!("hint: fix the cause and run again with --replace");
        return doc.exit_code.into();
    }
    println!("The source is unchanged. To switch this host over, in the config file:");
    for line in &doc.switch {
        println!("  {line}");
    }
    if let Some(k) = &doc.key_file {
        println!(
            "Give every bastion and consumer a copy of the data key file {} (mode 0600): the private keys in the database are sealed with it.",
            k.display()
        );
    }
    doc.exit_code.into()
}
