//! `wildcert`: get TLS certificates from any ACME CA with the DNS-01 challenge.
//!
//! A thin layer over `wildcert-manager`: parse flags, layer settings, print results.
//! Exit codes are documented in docs/operations.md.

mod admin;
mod args;
mod check;
mod output;
mod renew;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wildcert_dns::{DnsProvider, PropagationProgress};
use wildcert_manager::issue::{IssueRequest, RunConfig};
use wildcert_manager::providers::{self, ConfigSource, ProviderContext};
use wildcert_manager::settings::{Secret, Settings};
use wildcert_manager::{IssueError, issue};

use args::{Cli, Command, Global};

/// Exit code when interrupted by SIGINT/SIGTERM.
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    init_logging(&cli.global);
    // reqwest is built without a default crypto provider: rustls runs on ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
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
    let level = if g.quiet {
        "error"
    } else {
        match g.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    // Our crates at the chosen level; dependencies one notch quieter.
    let default = format!(
        "warn,wildcert={level},wildcert_acme={level},wildcert_dns={level},wildcert_manager={level},wildcert_rfc2136={level}"
    );
    let filter = std::env::var("WILDCERT_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok());
    let filter = filter.unwrap_or_else(|| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Settings after layering: the file text is kept for line numbers in provider errors.
pub(crate) struct Loaded {
    /// The layered settings.
    pub settings: Settings,
    /// The config file and its text.
    pub file: Option<(std::path::PathBuf, String)>,
}

pub(crate) fn load_settings(g: &Global) -> Result<Loaded, IssueError> {
    // The file is read once: its text also gives line numbers to provider errors.
    let file = match &g.config {
        Some(p) => Some((p.clone(), wildcert_manager::settings::read_config_file(p)?)),
        None => None,
    };
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let mut settings =
        Settings::from_source(file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())), &env)?;
    // Flags win over everything.
    if let Some(v) = &g.server {
        settings.acme.server = Some(v.clone());
    }
    if let Some(v) = &g.ca_bundle {
        settings.acme.ca_bundle = Some(v.clone());
    }
    if let Some(v) = &g.state_dir {
        settings.state_dir = Some(v.clone());
    }
    if let Some(v) = &g.email {
        settings.acme.email = Some(v.clone());
    }
    if g.agree_tos {
        settings.acme.agree_tos = Some(true);
    }
    if let Some(v) = &g.eab_kid {
        settings.acme.eab_kid = Some(v.clone());
    }
    if let Some(v) = &g.eab_hmac_key {
        settings.acme.eab_hmac_key = Some(Secret::new(v.clone()));
    }
    if !g.resolvers.is_empty() {
        settings.dns.resolvers = g.resolvers.clone();
    }
    if !g.authoritative.is_empty() {
        settings.dns.authoritative = g.authoritative.clone();
    }
    if let Some(v) = &g.propagation_timeout {
        settings.dns.propagation_timeout = Some(v.clone());
    }
    Ok(Loaded { settings, file })
}

pub(crate) fn build_provider(
    name: &str,
    loaded: &Loaded,
) -> Result<Arc<dyn DnsProvider>, IssueError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let source = loaded
        .file
        .as_ref()
        .map(|(path, text)| ConfigSource { path, text });
    let state_dir = loaded
        .settings
        .state_dir
        .clone()
        .unwrap_or_else(|| wildcert_manager::settings::DEFAULT_STATE_DIR.into());
    providers::build(
        name,
        &loaded.settings,
        source,
        &env,
        ProviderContext {
            state_dir: Some(&state_dir),
        },
    )
}

async fn run(cli: Cli) -> ExitCode {
    let Cli { global, command } = cli;
    let out = output::Output::new(global.json, global.quiet);
    match command {
        Command::Issue(a) => issue_command(&global, a, &out).await,
        Command::Renew(a) => renew::run(&global, a, &out).await,
        Command::Check(a) => check::run(&global, a, &out).await,
        Command::Providers(a) => out.providers(a.name.as_deref()),
        Command::List => admin_command(&global, admin::AdminCommand::List, &out).await,
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
        EXIT_INTERRUPTED,
    )
}

async fn admin_command(g: &Global, cmd: admin::AdminCommand, out: &output::Output) -> ExitCode {
    match load_settings(g) {
        Ok(loaded) => admin::run(cmd, &loaded, out).await,
        Err(e) => out.error(&e.to_string(), &e.hint(), e.exit_code()),
    }
}

async fn issue_command(g: &Global, a: args::IssueArgs, out: &output::Output) -> ExitCode {
    let hook = a.deploy_hook.clone();
    match run_issue(g, a, out).await {
        Ok(issued) => {
            let report = match &hook {
                Some(cmd) => Some(
                    wildcert_manager::hooks::run_deploy_hook(
                        cmd,
                        &issued,
                        wildcert_manager::hooks::DEFAULT_HOOK_TIMEOUT,
                    )
                    .await,
                ),
                None => None,
            };
            out.issued(&issued, report.as_ref());
            ExitCode::SUCCESS
        }
        Err(Failure::Error(e)) => out.error(&e.to_string(), &e.hint(), e.exit_code()),
        Err(Failure::Interrupted) => report_interrupted(out),
    }
}

enum Failure {
    Error(IssueError),
    Interrupted,
}

impl From<IssueError> for Failure {
    fn from(e: IssueError) -> Self {
        Failure::Error(e)
    }
}

async fn run_issue(
    g: &Global,
    a: args::IssueArgs,
    out: &output::Output,
) -> Result<wildcert_manager::Issued, Failure> {
    let mut loaded = load_settings(g)?;
    if a.no_cname {
        loaded.settings.dns.follow_cname = Some(false);
    }
    let cfg = RunConfig::from_settings(&loaded.settings)?;
    let key_type = a.key_type.parse().map_err(IssueError::Acme)?;
    let req = IssueRequest {
        cert_name: a.cert_name.clone(),
        names: a.domains.clone(),
        provider_id: a.dns.clone(),
        key_type,
        profile: a
            .profile
            .clone()
            .or_else(|| loaded.settings.acme.profile.clone()),
        preferred_chain: a
            .preferred_chain
            .clone()
            .or_else(|| loaded.settings.acme.preferred_chain.clone()),
        key_perms: wildcert_manager::store::KeyPerms::parse(
            a.key_group.as_deref(),
            a.key_mode.as_deref(),
        )
        .map_err(|e| {
            IssueError::Settings(wildcert_manager::settings::SettingsError::Value {
                key: "--key-group / --key-mode".into(),
                message: e.to_string(),
            })
        })?,
    };
    // Refuse bad names and settings before anything touches the network.
    wildcert_manager::issue::validate(&req)?;
    let provider = build_provider(&a.dns, &loaded)?;
    let store = wildcert_manager::store::Store::open(&cfg.state_dir).map_err(IssueError::Store)?;
    clean_orphans(&store, false, &loaded, &cfg).await;
    let progress: Option<Arc<dyn PropagationProgress>> = out.progress();
    let work = issue(&cfg, &req, provider, progress);
    tokio::select! {
        r = work => Ok(r?),
        () = interrupted() => {
            // The issuance future is dropped here; its journal entry says what it published.
            clean_orphans(&store, true, &loaded, &cfg).await;
            Err(Failure::Interrupted)
        }
    }
}

pub(crate) async fn clean_orphans(
    store: &wildcert_manager::store::Store,
    include_self: bool,
    loaded: &Loaded,
    cfg: &RunConfig,
) {
    let problems = wildcert_manager::issue::recover_journal(
        store,
        include_self,
        |name| build_provider(name, loaded),
        &cfg.dns,
    )
    .await;
    for p in problems {
        tracing::warn!("{p}");
    }
}

pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
