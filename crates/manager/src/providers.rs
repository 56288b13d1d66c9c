//! The provider registry: builds a [`DnsProvider`] from `--dns NAME`, where NAME is either a
//! `[providers.<id>]` section of the config file or a provider kind configured from the
//! environment. Layering: a certbot credentials file < the file section < the provider's environment
//! variables; every kind comes from its [`Registration`] in [`PROVIDERS`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wildcert_dns::spec::{BuildContext, Registration};
use wildcert_dns::{DnsProvider, ProviderError};

use crate::config::Loaded;
use crate::error::IssueError;
use crate::model::NamedProvider;
use crate::settings::{Settings, SettingsError, provider_key_line};

/// Every provider kind this build knows: one line per provider crate.
pub const PROVIDERS: &[Registration] = &[
    wildcert_rfc2136::PROVIDER,
    wildcert_pdns::PROVIDER,
    wildcert_exec::PROVIDER,
    wildcert_cloudflare::PROVIDER,
    wildcert_route53::PROVIDER,
];

/// The registry: every provider kind this build knows.
pub fn registry() -> &'static [Registration] {
    PROVIDERS
}

/// Look up a kind by name (any case).
pub fn kind(name: &str) -> Option<&'static Registration> {
    registry()
        .iter()
        .find(|k| k.spec.kind.eq_ignore_ascii_case(name))
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

/// The marker lines around the generated settings table of `docs/providers/KIND.md`.
pub const DOC_TABLE_MARKERS: (&str, &str) = (
    "<!-- settings table: generated from the provider's spec; do not edit by hand (WILDCERT_BLESS=1 cargo test -p wildcert-manager --lib provider_docs) -->",
    "<!-- end of the settings table -->",
);

/// `page` with its generated settings table replaced by `table`; `None` without the markers.
pub fn with_doc_table(page: &str, table: &str) -> Option<String> {
    let (begin, end) = DOC_TABLE_MARKERS;
    let a = page.find(begin)? + begin.len();
    let b = a + page[a..].find(end)?;
    Some(format!("{}\n\n{}\n{}", &page[..a], table, &page[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed pages carry exactly the tables the specs generate; with
    /// `WILDCERT_BLESS=1` the pages are rewritten instead.
    #[test]
    fn provider_docs_match_their_specs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let bless = std::env::var("WILDCERT_BLESS").is_ok_and(|v| v == "1");
        for r in PROVIDERS {
            let path = root.join(r.spec.doc);
            let page = std::fs::read_to_string(&path).expect("provider page");
            let want = with_doc_table(&page, &r.spec.markdown_table())
                .unwrap_or_else(|| panic!("{} lacks the table markers", path.display()));
            if bless {
                std::fs::write(&path, &want).expect("write page");
            } else {
                assert!(
                    page == want,
                    "{} differs from its spec's table: run WILDCERT_BLESS=1 cargo test -p wildcert-manager --lib provider_docs",
                    path.display()
                );
            }
        }
    }

    /// lego's `<PREFIX>_PROPAGATION_TIMEOUT`, `_POLLING_INTERVAL` and `_TTL` take effect for
    /// every provider built through the registry (the pipeline reads `tuning()`).
    #[test]
    fn lego_common_variables_reach_every_provider() {
        let base: &[(&str, &[(&str, &str)])] = &[
            (
                "rfc2136",
                &[
                    ("RFC2136_NAMESERVER", "127.0.0.1"),
                    ("RFC2136_INSECURE_UNSIGNED", "true"),
                ],
            ),
            (
                "pdns",
                &[
                    ("PDNS_API_URL", "http://127.0.0.1:1"),
                    ("PDNS_API_KEY", "k"),
                ],
            ),
            ("exec", &[("EXEC_PATH", "sh")]),
            ("cloudflare", &[("CLOUDFLARE_DNS_API_TOKEN", "t")]),
            (
                "route53",
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                ],
            ),
        ];
        assert_eq!(
            base.len(),
            PROVIDERS.len(),
            "a provider without a case here"
        );
        for (kind_name, vars) in base {
            let reg = kind(kind_name).expect("registered");
            let prefix = reg.spec.env_prefix;
            let mut env: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            env.insert(format!("{prefix}_PROPAGATION_TIMEOUT"), "7".into());
            env.insert(format!("{prefix}_POLLING_INTERVAL"), "3".into());
            env.insert(format!("{prefix}_TTL"), "300".into());
            let p = build(
                kind_name,
                &Settings::default(),
                None,
                &env,
                ProviderContext::default(),
            )
            .unwrap_or_else(|e| panic!("{kind_name}: {e}"));
            let t = p.tuning();
            assert_eq!(
                t.propagation_timeout,
                Some(std::time::Duration::from_secs(7)),
                "{kind_name}"
            );
            assert_eq!(
                t.polling_interval,
                Some(std::time::Duration::from_secs(3)),
                "{kind_name}"
            );
            if *kind_name != "cloudflare" {
                // Cloudflare's ttl is its own setting, handed to the API as given.
                assert_eq!(t.ttl, Some(300), "{kind_name}");
            }
            env.insert(format!("{prefix}_PROPAGATION_TIMEOUT"), "soon".into());
            let e = build(
                kind_name,
                &Settings::default(),
                None,
                &env,
                ProviderContext::default(),
            )
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

    /// Every key a spec declares deserialises into its settings struct, and the struct takes
    /// no key the spec lacks (each provider's struct refuses unknown fields).
    #[test]
    fn specs_and_settings_structs_agree() {
        for r in PROVIDERS {
            let spec = r.spec;
            let env: HashMap<String, String> = HashMap::new();
            for (setting, _) in spec.all_settings() {
                let value = match setting.ty {
                    wildcert_dns::Type::Bool => serde_json::json!(true),
                    wildcert_dns::Type::Seconds | wildcert_dns::Type::Number => {
                        serde_json::json!(1)
                    }
                    _ => serde_json::json!("x"),
                };
                let mut section = serde_json::Map::new();
                section.insert(setting.key.into(), value);
                let layered = spec.layer(Some(&section), None, &env).expect("layers");
                // Building may fail on validation, never on an unknown field.
                if let Err(e) = (r.build)(
                    &layered,
                    &BuildContext {
                        env: &env,
                        state_dir: None,
                    },
                ) {
                    let m = e.to_string();
                    assert!(
                        !m.contains("unknown field"),
                        "{}: {}: {m}",
                        spec.kind,
                        setting.key
                    );
                }
            }
            let names: Vec<&str> = spec.all_settings().iter().map(|(s, _)| s.key).collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                names.len(),
                "{}: a key declared twice",
                spec.kind
            );
        }
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
