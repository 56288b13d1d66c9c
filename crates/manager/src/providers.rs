//! The provider registry: builds a [`DnsProvider`] from `--dns NAME`, where NAME is either a
//! `[providers.<id>]` section of the config file or a provider kind configured from the
//! environment. Layering: the file section < the provider's environment variables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use wildcert_dns::{DnsProvider, LayeredSettings, ProviderError, SettingDoc};

use wildcert_cloudflare as cloudflare;
use wildcert_exec as exec;
use wildcert_pdns as pdns;
use wildcert_rfc2136 as rfc2136;
use wildcert_route53 as route53;

use crate::config::Loaded;
use crate::error::IssueError;
use crate::model::NamedProvider;
use crate::settings::{Settings, SettingsError, provider_key_line};

/// One provider kind, as listed by `wildcert providers`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProviderKind {
    /// Kind name used in `kind = "…"` and `--dns`.
    pub kind: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
    /// Its settings.
    pub settings: &'static [SettingDoc],
    /// Its user documentation.
    pub doc: &'static str,
}

/// Every provider kind this build knows.
pub const KINDS: &[ProviderKind] = &[
    ProviderKind {
        kind: wildcert_rfc2136::KIND,
        summary: "RFC 2136 dynamic DNS UPDATE signed with TSIG (BIND, Knot, PowerDNS, Windows DNS, …)",
        settings: wildcert_rfc2136::SETTINGS,
        doc: "docs/providers/rfc2136.md",
    },
    ProviderKind {
        kind: wildcert_pdns::KIND,
        summary: "PowerDNS Authoritative HTTP API (X-API-Key), one PATCH per zone",
        settings: wildcert_pdns::SETTINGS,
        doc: "docs/providers/pdns.md",
    },
    ProviderKind {
        kind: wildcert_exec::KIND,
        summary: "Any DNS host: runs your program as `PROGRAM publish|unpublish FQDN VALUE`",
        settings: wildcert_exec::SETTINGS,
        doc: "docs/providers/exec.md",
    },
    ProviderKind {
        kind: wildcert_cloudflare::KIND,
        summary: "Cloudflare API v4 (API token with DNS:Edit, or the legacy Global API Key)",
        settings: wildcert_cloudflare::SETTINGS,
        doc: "docs/providers/cloudflare.md",
    },
    ProviderKind {
        kind: wildcert_route53::KIND,
        summary: "Amazon Route 53 (SigV4; access keys, session tokens or a shared-file profile), one ChangeBatch per zone",
        settings: wildcert_route53::SETTINGS,
        doc: "docs/providers/route53.md",
    },
];

/// Look up a kind by name.
pub fn kind(name: &str) -> Option<&'static ProviderKind> {
    KINDS.iter().find(|k| k.kind.eq_ignore_ascii_case(name))
}

/// Where a provider's file settings came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct ConfigSource<'a> {
    /// The config file.
    pub path: &'a Path,
    /// Its text (to find line numbers).
    pub text: &'a str,
}

/// What a provider may need besides its own settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderContext<'a> {
    /// The store's root: providers that must remember things for cleanup after a crash
    /// (Cloudflare record ids) keep them under `<state_dir>/providers/<kind>/`.
    pub state_dir: Option<&'a Path>,
}

/// Build the provider named `name` (an id in `[providers.<id>]`, or a kind).
///
/// Settings layer as: the `[providers.<id>]` section < the provider's environment variables.
/// A settings error of a provider configured in the file names the file and the section.
pub fn build(
    name: &str,
    settings: &Settings,
    source: Option<ConfigSource<'_>>,
    env: &HashMap<String, String>,
    ctx: ProviderContext<'_>,
) -> Result<Arc<dyn DnsProvider>, IssueError> {
    build_unlocated(name, settings, source, env, ctx).map_err(|e| match (e, source) {
        (IssueError::Provider(ProviderError::Config { provider, message }), Some(src))
            if settings.providers.contains_key(name) =>
        {
            let line = provider_key_line(src.text, name, "kind")
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            IssueError::Provider(ProviderError::Config {
                provider,
                message: format!(
                    "{message} (in [providers.{name}] of {}{line}, or its environment variables)",
                    src.path.display()
                ),
            })
        }
        (e, _) => e,
    })
}

fn build_unlocated(
    name: &str,
    settings: &Settings,
    source: Option<ConfigSource<'_>>,
    env: &HashMap<String, String>,
    ctx: ProviderContext<'_>,
) -> Result<Arc<dyn DnsProvider>, IssueError> {
    let (kind_name, section) = match settings.providers.get(name) {
        Some(section) => (section.kind.as_str(), Some(section)),
        None => match kind(name) {
            Some(k) => (k.kind, None),
            None => {
                let candidates = settings
                    .providers
                    .keys()
                    .map(String::as_str)
                    .chain(KINDS.iter().map(|k| k.kind));
                return Err(IssueError::UnknownProvider {
                    name: name.to_string(),
                    suggestion: crate::error::did_you_mean(name, candidates),
                });
            }
        },
    };
    let Some(kind) = kind(kind_name) else {
        let line = source.and_then(|s| provider_key_line(s.text, name, "kind"));
        return Err(IssueError::Settings(SettingsError::Invalid {
            path: source
                .map(|s| s.path.to_path_buf())
                .unwrap_or_else(|| "config".into()),
            line,
            message: format!(
                "[providers.{name}]: unknown kind `{kind_name}`; known kinds: {}",
                KINDS.iter().map(|k| k.kind).collect::<Vec<_>>().join(", ")
            ),
        }));
    };
    // The section as JSON, with `kind` kept (providers accept it).
    let file_value = section.map(|s| {
        let mut map: serde_json::Map<String, serde_json::Value> =
            s.settings.clone().into_iter().collect();
        map.insert("kind".into(), serde_json::Value::String(s.kind.clone()));
        serde_json::Value::Object(map)
    });
    let section_error = |e: serde_json::Error| {
        let msg = e.to_string();
        let key = msg.split('`').nth(1).unwrap_or("");
        let line = source.and_then(|s| {
            provider_key_line(s.text, name, key).or_else(|| provider_key_line(s.text, name, ""))
        });
        IssueError::Settings(SettingsError::Invalid {
            path: source
                .map(|s| s.path.to_path_buf())
                .unwrap_or_else(|| "config".into()),
            line,
            message: format!("[providers.{name}]: {msg}"),
        })
    };
    // Each kind: file section (validated, unknown keys refused) < environment, then build.
    let (file, err) = (file_value, section_error);
    let provider: Arc<dyn DnsProvider> = match kind.kind {
        rfc2136::KIND => Arc::new(rfc2136::Rfc2136Provider::new(&layered(file, err, env)?)?),
        cloudflare::KIND => Arc::new(cloudflare::CloudflareProvider::new(
            &layered(file, err, env)?,
            ctx.state_dir,
        )?),
        pdns::KIND => Arc::new(pdns::PdnsProvider::new(&layered(file, err, env)?)?),
        exec::KIND => Arc::new(exec::ExecProvider::new(&layered(file, err, env)?)?),
        route53::KIND => Arc::new(route53::Route53Provider::new(&layered(file, err, env)?)?),
        other => {
            return Err(IssueError::Provider(ProviderError::Config {
                provider: "registry",
                message: format!("provider kind `{other}` is listed but not built in"),
            }));
        }
    };
    Ok(provider)
}

/// Builds the providers a run names, from the loaded settings and environment, each id once.
pub struct Providers<'a> {
    loaded: &'a Loaded,
    env: HashMap<String, String>,
    state_dir: PathBuf,
    built: Mutex<HashMap<String, NamedProvider>>,
}

impl<'a> Providers<'a> {
    /// A factory over `loaded`.
    pub fn new(loaded: &'a Loaded) -> Self {
        Providers {
            loaded,
            env: loaded
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            state_dir: loaded.state_dir(),
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The provider named `id` (`[providers.<id>]` or a kind), built on first use.
    pub fn get(&self, id: &str) -> Result<NamedProvider, IssueError> {
        if let Ok(built) = self.built.lock()
            && let Some(p) = built.get(id)
        {
            return Ok(p.clone());
        }
        let source = self
            .loaded
            .file
            .as_ref()
            .map(|(path, text)| ConfigSource { path, text });
        let dns = build(
            id,
            &self.loaded.settings,
            source,
            &self.env,
            ProviderContext {
                state_dir: Some(&self.state_dir),
            },
        )?;
        let p = NamedProvider::new(id, dns);
        if let Ok(mut built) = self.built.lock() {
            built.insert(id.to_string(), p.clone());
        }
        Ok(p)
    }
}

/// A provider's settings: its `[providers.<id>]` section (defaults when the provider came from
/// `--dns KIND`) with its environment variables layered on top.
fn layered<S: LayeredSettings>(
    section: Option<serde_json::Value>,
    on_error: impl Fn(serde_json::Error) -> IssueError,
    env: &HashMap<String, String>,
) -> Result<S, IssueError> {
    let file = match section {
        Some(v) => serde_json::from_value(v).map_err(on_error)?,
        None => S::default(),
    };
    Ok(S::merge(file, S::from_env_map(env)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Write;

    #[test]
    fn unknown_names_and_keys_are_clear() {
        let s = Settings::default();
        let env = HashMap::new();
        assert!(matches!(
            build("nope", &s, None, &env, ProviderContext::default()),
            Err(IssueError::UnknownProvider { .. })
        ));
        // A kind with no settings at all: a config error naming the missing setting.
        let err = build("rfc2136", &s, None, &env, ProviderContext::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("nameserver"), "{err}");

        let text = "[providers.home]\nkind = \"rfc2136\"\nnameserver = \"127.0.0.1\"\nbogus = 1\n";
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(text.as_bytes()).expect("write");
        let s = Settings::load_with_env(Some(f.path()), &BTreeMap::new()).expect("loads");
        let src = ConfigSource {
            path: f.path(),
            text,
        };
        let err = build("home", &s, Some(src), &env, ProviderContext::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(":4") && err.contains("bogus"), "{err}");
    }
}
