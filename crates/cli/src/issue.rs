//! `wildcert issue`: the flags become the certificate's settings and install targets; the
//! session does the rest (`Session::prepare_issue`).

use std::process::ExitCode;

use wildcert_manager::install::{InstallTarget, Layout};
use wildcert_manager::session::{IssueCommand, Session, Stopped};
use wildcert_manager::settings::CertificateSettings;

use crate::args::{Global, IssueArgs};
use crate::output::Output;

/// Run `wildcert issue`.
pub async fn run(g: &Global, a: IssueArgs, out: &Output) -> ExitCode {
    let mut loaded = match g.load(|o| {
        if a.no_cname {
            o.follow_cname = Some(false);
        }
        o.challenge = a.challenge.clone();
    }) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let prepared = match Session::prepare_issue(&mut loaded, command(a)) {
        Ok(p) => p,
        Err(e) => return out.failed(&e),
    };
    if let Some(n) = prepared.not_due() {
        return out.not_due(n);
    }
    if let Some(d) = prepared.session.dry_run() {
        out.dry_run(d.directory, d.staging);
    }
    match prepared.run(out.progress()).await {
        Ok(r) => out.issued(&r),
        Err(Stopped::Failed(e)) => out.failed(&e),
        Err(Stopped::Interrupted { records_kept }) => out.interrupted(
            records_kept,
            "the records this run published were removed",
            "the records this run published are still there",
        ),
    }
}

/// The flags as a certificate's settings (the same path to a request as `renew` takes) and
/// its install targets.
fn command(a: IssueArgs) -> IssueCommand {
    let layout = if a.install_layout == "lego" {
        Layout::Lego
    } else {
        Layout::Pem
    };
    let install = a
        .install_dirs
        .iter()
        .map(|d| InstallTarget {
            group: a.key_group.clone(),
            key_mode: a.key_mode.clone(),
            layout,
            ..InstallTarget::dir(d)
        })
        .collect();
    IssueCommand {
        cert: CertificateSettings {
            name: a.cert_name,
            domains: a.domains,
            provider: a.dns.unwrap_or_default(),
            key_type: Some(a.key_type),
            profile: a.profile,
            preferred_chain: a.preferred_chain,
            key_group: a.key_group,
            key_mode: a.key_mode,
            deploy_hook: a.deploy_hook,
            renew_before: None,
            challenge: None,
            install: Vec::new(),
            dns_credentials: a.dns_credentials,
            reuse_key: a.reuse_key.then_some(true),
        },
        install,
        dry_run: a.dry_run,
        replace_names: a.replace_names,
        force: a.force,
    }
}
