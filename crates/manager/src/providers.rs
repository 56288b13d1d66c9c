//! The provider registry: builds a [`DnsProvider`] from `--dns NAME`, where NAME is either a
//! `[providers.<id>]` section of the config file or a provider kind configured from the
//! environment. Layering: a certbot credentials file < the file section < the provider's environment
//! variables; every kind comes from its [`Registration`] in [`PROVIDERS`], the list
//! `cargo xtask gen` writes into the `wildcert-providers` crate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wildcert_dns::spec::{BuildContext, Registration};
use wildcert_dns::{DnsProvider, ProviderError};

use crate::config::Loaded;
use crate::error::IssueError;
use crate::model::NamedProvider;
use crate::settings::{Settings, SettingsError, provider_key_line};

pub use wildcert_providers::PROVIDERS;

/// The registry: every provider kind this build knows.
pub fn registry() -> &'static [Registration] {
    PROVIDERS
}

/// Look up a kind by name (any case).
pub fn kind(name: &str) -> Option<&'static Registration> {
    registry();
    wildcert_providers::kind(name)
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
    /// A certbot credentials file given on the command line (`--dns-credentials`); it replaces
    /// the section's `credentials`.
    pub credentials: Option<&'a Path>,
}

/// Build the provider named `name` (an id in `[providers.<id>]`, or a kind).
///
/// Settings layer as: a certbot credentials file < the `[providers.<id>]` section < the
/// provider's environment variables.
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
            let key = message.split('`').nth(1).unwrap_or("kind");
            let line = provider_key_line(src.text, name, key)
                .or_else(|| provider_key_line(src.text, name, "kind"))
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
            Some(k) => (k.spec.kind, None),
            None => {
                let candidates = settings
                    .providers
                    .keys()
                    .map(String::as_str)
                    .chain(registry().iter().map(|k| k.spec.kind));
                return Err(IssueError::UnknownProvider {
                    name: name.to_string(),
                    suggestion: crate::error::did_you_mean(name, candidates),
                });
            }
        },
    };
    let Some(reg) = kind(kind_name) else {
        let line = source.and_then(|s| provider_key_line(s.text, name, "kind"));
        return Err(IssueError::Settings(SettingsError::Invalid {
            path: source
                .map(|s| s.path.to_path_buf())
                .unwrap_or_else(|| "config".into()),
            line,
            message: format!(
                "[providers.{name}]: unknown kind `{kind_name}`; known kinds: {}",
                registry()
                    .iter()
                    .map(|k| k.spec.kind)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }));
    };
    // The section as JSON, with `kind` kept (the spec checks it).
    let section = section.map(|s| {
        let mut map: serde_json::Map<String, serde_json::Value> =
            s.settings.clone().into_iter().collect();
        map.insert("kind".into(), serde_json::Value::String(s.kind.clone()));
        // A relative credentials file is found next to the config file that names it.
        if let (Some(serde_json::Value::String(c)), Some(src)) = (map.get("credentials"), source)
            && Path::new(c).is_relative()
            && let Some(dir) = src.path.parent()
        {
            let joined = dir.join(c).to_string_lossy().into_owned();
            map.insert("credentials".into(), serde_json::Value::String(joined));
        }
        map
    });
    Ok(reg.create(
        section.as_ref(),
        ctx.credentials,
        &BuildContext {
            env,
            state_dir: ctx.state_dir,
        },
    )?)
}

/// Builds the providers a run names, from the loaded settings and environment, each id once.
pub struct Providers<'a> {
    loaded: &'a Loaded,
    env: HashMap<String, String>,
    state_dir: PathBuf,
    built: Mutex<HashMap<(String, Option<PathBuf>), NamedProvider>>,
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
        self.get_with(id, None)
    }

    /// The provider named `id`, its credentials read from the certbot credentials file
    /// `credentials` when one is given (`issue --dns-credentials`, recorded for renew).
    pub fn get_with(
        &self,
        id: &str,
        credentials: Option<&Path>,
    ) -> Result<NamedProvider, IssueError> {
        let cache_key = (id.to_string(), credentials.map(Path::to_path_buf));
        if let Ok(built) = self.built.lock()
            && let Some(p) = built.get(&cache_key)
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
                credentials,
            },
        )?;
        let mut p = NamedProvider::new(id, dns);
        p.credentials = credentials.map(Path::to_path_buf);
        if let Ok(mut built) = self.built.lock() {
            built.insert(cache_key, p.clone());
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lego's `<PREFIX>_PROPAGATION_TIMEOUT`, `_POLLING_INTERVAL` and `_TTL` take effect for
    /// every provider of the registry: its own spec layers them and [`Registration::create`]
    /// attaches them to what it builds (the pipeline reads `tuning()`). The provider's own
    /// build is replaced by a stand-in, so no provider needs settings here.
    #[test]
    fn lego_common_variables_reach_every_provider() {
        assert!(!PROVIDERS.is_empty());
        for r in registry() {
            let kind_name = r.spec.kind;
            let stand_in = Registration {
                spec: r.spec,
                build: |_, _| Ok(crate::model::NamedProvider::none().dns),
            };
            let prefix = r.spec.env_prefix;
            let mut env: HashMap<String, String> = HashMap::new();
            env.insert(format!("{prefix}_PROPAGATION_TIMEOUT"), "7".into());
            env.insert(format!("{prefix}_POLLING_INTERVAL"), "3".into());
            env.insert(format!("{prefix}_TTL"), "300".into());
            let t = stand_in
                .from_env(&env)
                .unwrap_or_else(|e| panic!("{kind_name}: {e}"))
                .tuning();
            let own = |key: &str| r.spec.settings.iter().any(|s| s.key == key);
            if own("propagation_timeout") {
                // A provider declaring its own (Gandi, Linode: a longer default) gets it as a
                // setting and reports it through its own `tuning()` (tested beside it).
                let layered = r.spec.layer(None, None, &env).expect("layers");
                assert_eq!(
                    layered.values.get("propagation_timeout"),
                    Some(&7.into()),
                    "{kind_name}"
                );
            } else {
                assert_eq!(
                    t.propagation_timeout,
                    Some(std::time::Duration::from_secs(7)),
                    "{kind_name}"
                );
            }
            assert_eq!(
                t.polling_interval,
                Some(std::time::Duration::from_secs(3)),
                "{kind_name}"
            );
            if r.spec.settings.iter().any(|s| s.key == "ttl") {
                // A provider declaring its own `ttl` (Cloudflare) gets it as a setting.
                let layered = r.spec.layer(None, None, &env).expect("layers");
                assert_eq!(layered.values.get("ttl"), Some(&300.into()), "{kind_name}");
            } else {
                assert_eq!(t.ttl, Some(300), "{kind_name}");
            }
            env.insert(format!("{prefix}_PROPAGATION_TIMEOUT"), "soon".into());
            let e = stand_in
                .from_env(&env)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(&format!("{prefix}_PROPAGATION_TIMEOUT")),
                "{kind_name}: {e}"
            );
        }
    }

    /// `credentials = "cf.ini"` is read next to the config file, wherever the run starts.
    #[test]
    fn relative_credentials_are_found_beside_the_config_file() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("cf.ini"),
            "dns_cloudflare_api_token = from-the-ini\n",
        )
        .expect("ini");
        let config = dir.path().join("wildcert.toml");
        let text = "[providers.cf]\nkind = \"cloudflare\"\ncredentials = \"cf.ini\"\n";
        std::fs::write(&config, text).expect("config");
        let s = Settings::load_with_env(Some(&config), &std::collections::BTreeMap::new())
            .expect("loads");
        let src = ConfigSource {
            path: &config,
            text,
        };
        let built = build(
            "cf",
            &s,
            Some(src),
            &HashMap::new(),
            ProviderContext::default(),
        );
        assert!(built.is_ok(), "{:?}", built.err().map(|e| e.to_string()));
        // Without the file's location the same name is looked up where the run is: not found.
        let err = build("cf", &s, None, &HashMap::new(), ProviderContext::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("cf.ini"), "{err}");
    }

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
