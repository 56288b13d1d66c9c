//! `wildcert`: get TLS certificates from any ACME CA with the DNS-01 challenge.
//!
//! A thin layer over `wildcert-manager`: parse flags, layer settings, print results.
//! Exit codes are documented in docs/operations.md.

mod admin;
mod args;
mod check;
mod output;
mod persist;
mod renew;
mod setup;
#[cfg(test)]
mod snapshots;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wildcert_manager::install::{InstallTarget, Layout};
use wildcert_manager::session::{Session, Stopped};
use wildcert_manager::settings::{CertificateSettings, Secret};
use wildcert_manager::{ExitCode as Code, IssueError, Loaded, Overrides};

use args::{Cli, Command, Global};

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
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
            std::process::exit(0);
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

/// The command line's global flags as overrides of the settings.
fn overrides(g: &Global) -> Overrides {
    Overrides {
        server: g.server.clone(),
        ca_bundle: g.ca_bundle.clone(),
        state_dir: g.state_dir.clone(),
        email: g.email.clone(),
        agree_tos: g.agree_tos,
        eab_kid: g.eab_kid.clone(),
        eab_hmac_key: g.eab_hmac_key.clone().map(Secret::new),
        resolvers: g.resolvers.clone(),
        authoritative: g.authoritative.clone(),
        propagation_timeout: g.propagation_timeout.clone(),
        follow_cname: None,
        challenge: None,
    }
}

/// Layer defaults < config file < environment < flags (`extra` adds a command's own flags).
pub(crate) fn load_settings(
    g: &Global,
    extra: impl FnOnce(&mut Overrides),
) -> Result<Loaded, IssueError> {
    let mut o = overrides(g);
    extra(&mut o);
    Loaded::load(g.config.as_deref(), std::env::vars().collect(), &o)
}

async fn run(cli: Cli) -> ExitCode {
    let Cli { global, command } = cli;
    let out = output::Output::new(global.json, global.quiet);
    match command {
        Command::Issue(a) => issue_command(&global, a, &out).await,
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
        Command::Delete(a) => admin_command(&global, admin::AdminCommand::Delete(a), &out).await,
        Command::List(a) => {
            admin_command(
                &global,
                admin::AdminCommand::List {
                    prometheus: a.prometheus,
                },
                &out,
            )
            .await
        }
        Command::Show(a) => admin_command(&global, admin::AdminCommand::Show(a), &out).await,
        Command::Revoke(a) => admin_command(&global, admin::AdminCommand::Revoke(a), &out).await,
        Command::Account(a) => admin_command(&global, admin::AdminCommand::Account(a), &out).await,
    }
}

/// After SIGINT/SIGTERM, once the run's published records are removed: exit 130.
pub(crate) fn report_interrupted(out: &output::Output) -> ExitCode {
    out.error(
        "interrupted; the records this run published were removed",
        "run the command again",
        Code::Interrupted,
    )
}

async fn admin_command(g: &Global, cmd: admin::AdminCommand, out: &output::Output) -> ExitCode {
    match load_settings(g, |_| {}) {
        Ok(loaded) => admin::run(cmd, &loaded, out).await,
        Err(e) => out.error(&e.to_string(), &e.hint(), e.exit_code()),
    }
}

async fn issue_command(g: &Global, a: args::IssueArgs, out: &output::Output) -> ExitCode {
    let mut loaded = match load_settings(g, |o| {
        if a.no_cname {
            o.follow_cname = Some(false);
        }
        o.challenge = a.challenge.clone();
    }) {
        Ok(l) => l,
        Err(e) => return out.error(&e.to_string(), &e.hint(), e.exit_code()),
    };
    // A dry run: staging CA, throwaway store, no hook (kept alive until the run ends).
    let _dry = match a.dry_run {
        false => None,
        true => match wildcert_manager::config::DryRun::prepare(&mut loaded.settings) {
            Ok(d) => Some(d),
            Err(e) => return out.error(&e.to_string(), &e.hint(), e.exit_code()),
        },
    };
    // The flags as a certificate's settings: the same path to a request as `renew` takes.
    let layout = if a.install_layout == "lego" {
        Layout::Lego
    } else {
        Layout::Pem
    };
    let targets: Vec<InstallTarget> = a
        .install_dirs
        .iter()
        .map(|d| InstallTarget {
            group: a.key_group.clone(),
            key_mode: a.key_mode.clone(),
            layout,
            ..InstallTarget::dir(d)
        })
        .collect();
    let cert = CertificateSettings {
        name: a.cert_name,
        domains: a.domains,
        provider: a.dns.unwrap_or_default(),
        key_type: Some(a.key_type),
        profile: a.profile,
        preferred_chain: a.preferred_chain,
        key_group: a.key_group,
        key_mode: a.key_mode,
        deploy_hook: if a.dry_run { None } else { a.deploy_hook },
        renew_before: None,
        challenge: None,
        install: Vec::new(),
        // Absolute: renew reads it again from wherever it runs.
        dns_credentials: a
            .dns_credentials
            .map(|p| std::path::absolute(&p).unwrap_or(p)),
    };
    // Bad names and settings are refused before anything else happens.
    let opened = wildcert_manager::request_for(&loaded.settings, &cert)
        .and_then(|req| Ok((req, Session::open(&loaded)?)));
    let (req, session) = match opened {
        Ok(x) => x,
        Err(e) => return out.error(&e.to_string(), &e.hint(), e.exit_code()),
    };
    if let Some(d) = &_dry {
        out.dry_run(&session.cfg.directory_url, d.staging.is_some());
    }
    // A dry run installs nothing either.
    let targets = if _dry.is_some() { Vec::new() } else { targets };
    match session
        .issue_and_install(&req, &cert, &targets, out.progress())
        .await
    {
        Ok(r) => out.issued(&r),
        Err(Stopped::Failed(e)) => out.error(&e.to_string(), &e.hint(), e.exit_code()),
        Err(Stopped::Interrupted) => report_interrupted(out),
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
