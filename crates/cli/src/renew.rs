//! `wildcert renew [--until-next] [--dry-run]`: the flags become a `RenewCommand`; the session
//! runs the rounds (and the schedule between them) and this module prints each one.

use std::process::ExitCode;

use wildcert_manager::renew::{RenewOptions, RenewRound};
use wildcert_manager::session::{RenewCommand, RenewListener, Session, Stopped};

use crate::args::{Global, RenewArgs};
use crate::output::Output;

/// Run `renew` once, or forever with `--until-next` (settings are re-read every round, so
/// config changes are picked up).
pub async fn run(g: &Global, a: RenewArgs, out: &Output) -> ExitCode {
    let cmd = RenewCommand {
        options: RenewOptions {
            force: a.force,
            only: a.cert_names,
            parallel: a.parallel,
            deploy_hook: a.deploy_hook,
            pre_hook: a.pre_hook,
            post_hook: a.post_hook,
            progress: out.progress(),
            challenge: a.challenge.clone(),
            ..RenewOptions::default()
        },
        dry_run: a.dry_run,
        until_next: a.until_next,
    };
    let load = || g.load(|o| o.challenge = a.challenge.clone());
    Session::renew_command(load, &cmd, &Printer(out))
        .await
        .into()
}

/// Prints each round as it ends.
struct Printer<'o>(&'o Output);

impl RenewListener for Printer<'_> {
    fn dry_run(&self, directory: &str, staging: bool) {
        self.0.dry_run(directory, staging);
    }

    fn round(&self, result: &Result<RenewRound, Stopped>) {
        match result {
            Ok(round) => {
                self.0.renewed(round);
            }
            Err(Stopped::Failed(e)) => {
                self.0.failed(e);
            }
            Err(Stopped::Interrupted { records_kept }) => {
                self.0.interrupted(
                    *records_kept,
                    "the records this run published were removed",
                    "the records this run published are still there",
                );
            }
        }
    }
}
