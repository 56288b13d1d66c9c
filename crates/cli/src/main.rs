//! `wildcert`: get TLS certificates from any ACME CA with the DNS-01 challenge.
//!
//! A thin layer over `wildcert-manager`: parse flags, call the session
//! (`wildcert_manager::session`), print its results and `wildcert_manager::report`'s documents.
//! Exit codes (`report::ExitCode`) are documented in docs/operations.md.

mod acme_dns;
mod admin;
mod args;
mod check;
mod issue;
mod manpages;
mod output;
mod persist;
mod renew;
mod setup;
#[cfg(test)]
mod snapshots;
mod store;
mod sync;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wildcert_manager::report::ExitCode as Code;

use args::{Cli, Command, Global};

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(&cli.global);
    // reqwest is built without a default crypto provider: rustls runs on ring, installed once.
    wildcert_dns::http::install_crypto();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Code::Internal.into();
        }
    };
    runtime.block_on(run(cli))
}

/// A command line clap refused (or `--help`/`--version`, which clap reports the same way).
/// With `--json` anywhere on the line, a usage error is one JSON document on stdout (exit 2)
/// like every other failure; otherwise clap's own message and exit code.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ErrorKind};
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let help = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || help {
        e.exit();
    }
    let message = e
        .render()
        .to_string()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_string();
    let hint = match e.get(ContextKind::SuggestedArg) {
        Some(s) => format!("did you mean {s}? see `wildcert --help`"),
        None => "see `wildcert --help` (or `wildcert COMMAND --help`)".to_string(),
    };
    let doc = wildcert_manager::report::ErrorDoc::new(&message, &hint, Code::Settings);
    println!("{}", wildcert_manager::report::json_line(&doc, None));
    Code::Settings.into()
}

/// `wildcert list | head -1`: a reader that went away is not a crash. `println!` panics on
/// EPIPE (Rust ignores SIGPIPE); that one panic ends the process quietly with exit 0, every
/// other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(Code::Ok.code().into());
        }
        default(info);
    }));
}

fn init_logging(g: &Global) {
    let filter = std::env::var("WILDCERT_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok());
    let filter = filter.unwrap_or_else(|| EnvFilter::new(log_filter(g.quiet, g.verbose)));
    let env = |k: &str| std::env::var(k).ok();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && color_allowed(env))
        .init();
}

/// The default log filter: our crates at the chosen level, dependencies one notch quieter;
/// `-q` is errors only, dependencies included (no `WARN` chatter from hickory or reqwest).
fn log_filter(quiet: bool, verbose: u8) -> String {
    let (ours, deps) = if quiet {
        ("error", "error")
    } else {
        match verbose {
            0 => ("info", "warn"),
            1 => ("debug", "warn"),
            _ => ("trace", "warn"),
        }
    };
    let crates = [
        "wildcert",
        "wildcert_acme",
        "wildcert_dns",
        "wildcert_manager",
        "wildcert_rfc2136",
        "wildcert_pdns",
        "wildcert_cloudflare",
        "wildcert_route53",
        "wildcert_exec",
        "wildcert_acme_dns",
    ];
    let mut f = deps.to_string();
    for c in crates {
        f.push_str(&format!(",{c}={ours}"));
    }
    f
}

/// Colours unless `NO_COLOR` is set to anything non-empty (no-color.org) or `CLICOLOR=0`.
fn color_allowed(env: impl Fn(&str) -> Option<String>) -> bool {
    let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
    let clicolor_off = env("CLICOLOR").is_some_and(|v| v.trim() == "0");
    !(no_color || clicolor_off)
}

async fn run(cli: Cli) -> ExitCode {
    let Cli { global, command } = cli;
    let out = output::Output::new(global.json, global.quiet);
    match command {
        Command::Issue(a) => issue::run(&global, a, &out).await,
        Command::Renew(a) => renew::run(&global, a, &out).await,
        Command::Check(a) => check::run(&global, a, &out).await,
        Command::Providers(a) => out.providers(a.name.as_deref()),
        Command::Persist(a) => persist::run(&global, a, &out).await,
        Command::Completions(a) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "wildcert", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man(a) => setup::man(&a, &out),
        Command::Systemd(a) => setup::systemd(&global, &a, &out),
        Command::Config(args::ConfigCommand::Check) => setup::config_check(&global, &out),
        Command::Import(a) => admin::import(&global, a, &out).await,
        Command::Delete(a) => admin::run(&global, admin::AdminCommand::Delete(a), &out).await,
        Command::List(a) => {
            let cmd = admin::AdminCommand::List {
                prometheus: a.prometheus,
            };
            admin::run(&global, cmd, &out).await
        }
        Command::Show(a) => admin::run(&global, admin::AdminCommand::Show(a), &out).await,
        Command::Revoke(a) => admin::run(&global, admin::AdminCommand::Revoke(a), &out).await,
        Command::Account(a) => admin::run(&global, admin::AdminCommand::Account(a), &out).await,
        Command::AcmeDns(a) => acme_dns::run(&global, a, &out).await,
        Command::Sync(a) => sync::run(&global, a, &out).await,
        Command::Store(a) => store::run(&global, a, &out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_filter_lets_no_warning_through() {
        let f = log_filter(true, 0);
        assert!(!f.contains("warn") && !f.contains("info"), "{f}");
        assert!(log_filter(false, 0).starts_with("warn,"));
        assert!(log_filter(false, 1).contains("wildcert_dns=debug"));
    }

    #[test]
    fn no_color_and_clicolor() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(color_allowed(env(&[])));
        assert!(!color_allowed(env(&[("NO_COLOR", "1")])));
        assert!(color_allowed(env(&[("NO_COLOR", "")])));
        assert!(!color_allowed(env(&[("CLICOLOR", "0")])));
        assert!(color_allowed(env(&[("CLICOLOR", "1")])));
    }
}
