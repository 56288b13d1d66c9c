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
    let a = match cmd {
        StoreCommand::Migrate(a) => a,
        StoreCommand::RotateKey(a) => return rotate(g, &a.new_key_file, out).await,
    };
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
    let (text, errors) = render_migrate(&doc);
    eprint!("{errors}");
    if !out.is_quiet() || !doc.ok {
        print!("{text}");
    }
    doc.exit_code.into()
}

/// The human report of `store migrate`: (stdout, stderr).
pub(crate) fn render_migrate(doc: &MigrateDoc) -> (String, String) {
    use std::fmt::Write as _;
    let (mut out, mut err) = (String::new(), String::new());
    for c in doc.certificates.iter().chain(&doc.accounts) {
        if let Some(e) = &c.error {
            let _ = writeln!(err, "failed   {}: {e}", c.name);
        }
    }
    let _ = writeln!(out, "From {} to {}:", doc.from, doc.to);
    for c in doc.certificates.iter().filter(|c| c.error.is_none()) {
        let versions: Vec<String> = c.versions.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
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
        let _ = writeln!(
            out,
            "{:<8} account {}: {} files verified",
            a.status, a.name, a.files
        );
    }
    if !doc.ok {
        let _ = writeln!(
            err,
            "error: not everything was copied (see above); what failed is not in the target, the source is unchanged"
        );
        let _ = writeln!(err, "hint: fix the cause and run again with --replace");
        return (out, err);
    }
    let _ = writeln!(
        out,
        "The source is unchanged. To switch this host over, in the config file:"
    );
    for line in &doc.switch {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(k) = &doc.key_file {
        let _ = writeln!(
            out,
            "Give every bastion and consumer a copy of the data key file {} (mode 0600): the private keys in the database are sealed with it.",
            k.display()
        );
    }
    (out, err)
}

/// `store rotate-key`.
async fn rotate(g: &Global, new_key_file: &std::path::Path, out: &Output) -> ExitCode {
    let loaded = match g.load(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let cfg = match RunConfig::from_settings(&loaded.settings) {
        Ok(c) => c,
        Err(e) => return out.failed(&e),
    };
    let r = match wildcert_manager::commands::rotate::rotate_key(&cfg, new_key_file).await {
        Ok(r) => r,
        Err(e) => return out.failed(&e),
    };
    if out.is_json() {
        out.print_json(&serde_json::json!({
            "ok": true,
            "resealed": r.resealed,
            "old_key_id": r.old_id,
            "new_key_id": r.new_id,
            "new_key_file": r.new_key_file,
        }));
    } else if !out.is_quiet() {
        println!(
            "re-sealed {} private key{} with data key {} (was {})",
            r.resealed,
            if r.resealed == 1 { "" } else { "s" },
            r.new_id,
            r.old_id
        );
        println!(
            "next: copy {} to every bastion and consumer and point [store] key_file at it (now {}); a host with the old key is refused until then",
            r.new_key_file.display(),
            r.old_key_file.display()
        );
    }
    ExitCode::SUCCESS
}
