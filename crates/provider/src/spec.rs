//! A provider declares itself once: its [`Spec`] lists every setting (key, type, default,
//! whether it is required or secret, its environment names including lego's, its certbot ini
//! key, a one-line doc). From the spec come the layering of a `[providers.<id>]` section, a
//! certbot credentials file and the environment ([`Spec::layer`]); lego's common tuning
//! variables (`*_TTL`, `*_PROPAGATION_TIMEOUT`, `*_POLLING_INTERVAL`, a warning for
//! `*_SEQUENCE_INTERVAL`); `wildcert providers NAME [--json]` ([`Spec::view`]); the settings
//! table of `docs/providers/NAME.md` ([`Spec::markdown_table`]); and the provider's own hints
//! ([`Hints`], carried by every error through the provider's [`Kind`]). A provider declares
//! its spec on its settings struct (`#[derive(LayeredSettings)]`) and exports one
//! [`Registration`]; the registry is one generated list of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

pub use crate::error::Hints;
use crate::error::{Kind, ProviderError};
use crate::ini;
use crate::name::DnsName;
use crate::provider::{Applied, DnsProvider, ProviderTuning};
use crate::record::{TxtSet, Zone};
use crate::settings::{config_error, mode_if_open, parse_bool, parse_seconds};

/// The type of a setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// Free text (a host name, an URL, an id).
    Text,
    /// A secret string: never printed, never in JSON output.
    Secret,
    /// A file path.
    Path,
    /// `true`/`false` (also `yes/no`, `on/off`, `1/0` in the environment and ini files).
    Bool,
    /// A whole number of seconds (`30` or `30s`).
    Seconds,
    /// A whole number.
    Number,
    /// Seconds (`60`) or a duration (`90s`, `2m`), handed on as given.
    Duration,
}

impl Type {
    /// The type's name as `wildcert providers` and the docs show it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::Secret => "secret",
            Type::Path => "path",
            Type::Bool => "bool",
            Type::Seconds => "seconds",
            Type::Number => "number",
            Type::Duration => "duration",
        }
    }
}

/// One setting of a provider.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Setting {
    /// Key in the `[providers.<id>]` section.
    pub key: &'static str,
    /// Type of its value.
    #[serde(rename = "type")]
    pub ty: Type,
    /// Whether it must be given (`"yes"`, `"no"`, or a condition such as `"unless tsig_file"`).
    pub required: &'static str,
    /// Default when not given (empty: none).
    pub default: &'static str,
    /// Environment variables carrying it, the first set one winning (lego's names first).
    pub env: &'static [&'static str],
    /// Key in a certbot credentials file, without the plugin's `dns_<plugin>_` prefix.
    pub certbot: Option<&'static str>,
    /// The other form of the same secret (`api_key` ↔ `api_key_file`): a layer giving either
    /// replaces both forms of the layers below it.
    pub pair: Option<&'static str>,
    /// What it means, one line.
    pub doc: &'static str,
}

impl Setting {
    /// A setting with no environment name, no certbot key and no pair (fill in the rest with
    /// struct update syntax).
    pub const fn new(key: &'static str, ty: Type, doc: &'static str) -> Setting {
        Setting {
            key,
            ty,
            required: "no",
            default: "",
            env: &[],
            certbot: None,
            pair: None,
            doc,
        }
    }

    /// Whether the value is a secret.
    pub fn secret(&self) -> bool {
        self.ty == Type::Secret
    }
}

/// A variable lego knows that wildcert reads but cannot honour: one warning line names it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Ignored {
    /// The variable.
    pub var: &'static str,
    /// Why it is ignored.
    pub reason: &'static str,
}

/// A provider kind, declared once.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spec {
    /// Kind name used in `kind = "…"` and `--dns`.
    pub kind: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
    /// Its user documentation (relative to the repository).
    pub doc: &'static str,
    /// Prefix of lego's common variables (`RFC2136` for `RFC2136_TTL`, …).
    pub env_prefix: &'static str,
    /// Prefixes of its keys in certbot credentials files (`dns_cloudflare_`); empty when
    /// certbot has no such plugin.
    pub certbot_prefixes: &'static [&'static str],
    /// Its own settings.
    pub settings: &'static [Setting],
    /// Variables it reads but cannot honour (besides `*_SEQUENCE_INTERVAL`).
    pub ignored_env: &'static [Ignored],
    /// Its own hints.
    #[serde(skip)]
    pub hints: Hints,
}

/// The tuning settings every provider has unless it declares the key itself (lego's
/// `<PREFIX>_TTL`, `<PREFIX>_PROPAGATION_TIMEOUT`, `<PREFIX>_POLLING_INTERVAL`).
pub const COMMON: &[(Setting, &str)] = &[
    (
        Setting {
            default: "[dns] ttl (60)",
            ..Setting::new(
                "ttl",
                Type::Number,
                "TTL of the TXT records, in seconds (lego's name); `[dns] ttl` wins when set",
            )
        },
        "TTL",
    ),
    (
        Setting {
            default: "[dns] propagation_timeout (120)",
            ..Setting::new(
                "propagation_timeout",
                Type::Seconds,
                "Seconds to wait until every authoritative nameserver serves the records (lego's name); \
                 `[dns] propagation_timeout` / --propagation-timeout win when set",
            )
        },
        "PROPAGATION_TIMEOUT",
    ),
    (
        Setting {
            default: "2",
            ..Setting::new(
                "polling_interval",
                Type::Seconds,
                "Seconds between two checks of one nameserver after the first 30 s (which poll every 250 ms, \
                 or this interval if shorter)",
            )
        },
        "POLLING_INTERVAL",
    ),
];

/// Keys every section may hold besides the provider's settings.
const RESERVED: &[&str] = &["kind", "credentials"];

/// One setting as shown by `wildcert providers NAME --json` and the docs.
#[derive(Clone, Debug, Serialize)]
pub struct SettingView {
    /// Key in the section.
    pub key: &'static str,
    /// Environment names, comma-separated (the first set wins).
    pub env: String,
    /// The environment names one by one.
    pub env_names: Vec<String>,
    /// Certbot ini key (with the plugin prefix), if any.
    pub certbot: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub ty: Type,
    /// Whether it is a secret.
    pub secret: bool,
    /// Whether it must be given.
    pub required: &'static str,
    /// Default.
    pub default: &'static str,
    /// One-line doc.
    pub description: &'static str,
}

/// What [`Spec::layer`] produced: the provider's own settings as a JSON object ready to
/// deserialise, the common tuning, and the warnings given.
#[derive(Clone, Debug, Default)]
pub struct Layered {
    /// The provider's own keys (and `kind`), typed.
    pub values: Map<String, Value>,
    /// lego's common tuning settings.
    pub tuning: ProviderTuning,
    /// The credentials file read, if any.
    pub credentials: Option<PathBuf>,
}

impl Layered {
    /// Deserialise the provider's settings struct from the layered values.
    pub fn settings<T: serde::de::DeserializeOwned>(&self, kind: Kind) -> Result<T, ProviderError> {
        serde_json::from_value(Value::Object(self.values.clone()))
            .map_err(|e| config_error(kind, e.to_string()))
    }
}

/// Where a value came from, for error messages.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Section,
    Env(&'a str),
    Ini(&'a Path, &'a str),
}

impl Origin<'_> {
    fn label(&self, key: &str) -> String {
        match self {
            Origin::Section => key.to_string(),
            Origin::Env(var) => (*var).to_string(),
            Origin::Ini(path, ini_key) => format!("{ini_key} in {}", path.display()),
        }
    }
}

impl Spec {
    /// The kind as errors carry it: the name and this spec's hints.
    pub const fn provider(&'static self) -> Kind {
        Kind {
            name: self.kind,
            hints: &self.hints,
        }
    }

    /// Every setting: the provider's own, then the common tuning ones it does not declare.
    pub fn all_settings(&self) -> Vec<(Setting, Vec<String>)> {
        let mut out: Vec<(Setting, Vec<String>)> = self
            .settings
            .iter()
            .map(|s| (*s, s.env.iter().map(|e| e.to_string()).collect()))
            .collect();
        for (s, suffix) in COMMON {
            if !self.settings.iter().any(|o| o.key == s.key) {
                out.push((*s, vec![format!("{}_{suffix}", self.env_prefix)]));
            }
        }
        out
    }

    /// Every variable lego knows for this provider that wildcert cannot honour.
    pub fn ignored(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![(
            format!("{}_SEQUENCE_INTERVAL", self.env_prefix),
            "wildcert sends each zone's records in one request, so there is no interval between them to set",
        )];
        out.extend(
            self.ignored_env
                .iter()
                .map(|i| (i.var.to_string(), i.reason)),
        );
        out
    }

    /// The settings as shown to users.
    pub fn view(&self) -> Vec<SettingView> {
        self.all_settings()
            .into_iter()
            .map(|(s, env)| SettingView {
                key: s.key,
                env: env.join(", "),
                certbot: s
                    .certbot
                    .and_then(|c| self.certbot_prefixes.first().map(|p| format!("{p}{c}"))),
                env_names: env,
                ty: s.ty,
                secret: s.secret(),
                required: s.required,
                default: s.default,
                description: s.doc,
            })
            .collect()
    }

    /// The settings table of `docs/providers/KIND.md` (a test keeps the page in step).
    pub fn markdown_table(&self) -> String {
        let mut out = String::from(
            "| key | type | environment | certbot ini | required | default | meaning |\n\
             |---|---|---|---|---|---|---|\n",
        );
        let code = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("`{s}`")
            }
        };
        for v in self.view() {
            let env = v
                .env_names
                .iter()
                .map(|e| code(e))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} |\n",
                v.key,
                v.ty.name(),
                env,
                v.certbot.as_deref().map(code).unwrap_or_default(),
                v.required,
                code(v.default),
                v.description.replace('|', "\\|"),
            ));
        }
        let ignored = self.ignored();
        if !ignored.is_empty() {
            out.push_str("\nRead but not honoured (one warning line each): ");
            out.push_str(
                &ignored
                    .iter()
                    .map(|(v, _)| code(v))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            out.push_str(".\n");
        }
        out
    }

    /// Layer the provider's settings: a certbot credentials file (the section's
    /// `credentials`, or `credentials_override` from `--dns-credentials`) < the
    /// `[providers.<id>]` section < the environment. Unknown section keys are refused (with a
    /// "did you mean"); every value is checked against its type, and errors name where it was
    /// given. Variables that cannot be honoured are warned about once.
    pub fn layer(
        &'static self,
        section: Option<&Map<String, Value>>,
        credentials_override: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Layered, ProviderError> {
        let bad = |m: String| config_error(self.provider(), m);
        let all = self.all_settings();
        let setting = |key: &str| all.iter().map(|(s, _)| *s).find(|s| s.key == key);
        let mut section_values = Map::new();
        let mut credentials: Option<PathBuf> = None;
        if let Some(section) = section {
            for (key, value) in section {
                match key.as_str() {
                    "kind" => {
                        let k = value.as_str().unwrap_or("");
                        if k != self.kind {
                            return Err(bad(format!("kind is `{k}`, expected `{}`", self.kind)));
                        }
                    }
                    "credentials" => {
                        let Some(p) = value.as_str() else {
                            return Err(bad(
                                "`credentials` must be the path of a certbot credentials file"
                                    .into(),
                            ));
                        };
                        credentials = Some(PathBuf::from(p));
                    }
                    _ => {
                        let Some(setting) = setting(key) else {
                            let known = all
                                .iter()
                                .map(|(s, _)| s.key)
                                .chain(RESERVED.iter().copied());
                            let hint = did_you_mean(key, known)
                                .map(|s| format!("; did you mean `{s}`?"))
                                .unwrap_or_default();
                            return Err(bad(format!(
                                "unknown key `{key}`{hint} (`wildcert providers {}` lists the settings)",
                                self.kind
                            )));
                        };
                        section_values.insert(
                            key.clone(),
                            coerce(self.provider(), &setting, Origin::Section, value)?,
                        );
                    }
                }
            }
        }
        if let Some(p) = credentials_override {
            credentials = Some(p.to_path_buf());
        }
        let ini_values = match &credentials {
            Some(path) => self.read_credentials(path)?,
            None => Map::new(),
        };
        let mut env_values = Map::new();
        for (setting, names) in &all {
            if let Some((var, v)) = names
                .iter()
                .find_map(|n| env.get(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
            {
                let raw = Value::String(v.trim().to_string());
                env_values.insert(
                    setting.key.to_string(),
                    coerce(self.provider(), setting, Origin::Env(var), &raw)?,
                );
            }
        }
        for (var, reason) in self.ignored() {
            if env.get(&var).is_some_and(|v| !v.trim().is_empty()) {
                warn_once(format!("{}: {var} is set but ignored: {reason}", self.kind));
            }
        }
        let mut merged = ini_values;
        for layer in [section_values, env_values] {
            for key in layer.keys() {
                if let Some(pair) = setting(key).and_then(|s| s.pair) {
                    merged.remove(pair);
                }
            }
            merged.extend(layer);
        }
        // The common tuning keys go to the pipeline, not to the provider.
        let mut tuning = ProviderTuning::default();
        for (s, _) in COMMON {
            if self.settings.iter().any(|o| o.key == s.key) {
                continue;
            }
            let Some(v) = merged.remove(s.key) else {
                continue;
            };
            let n = v.as_u64().unwrap_or(0);
            match s.key {
                "ttl" => {
                    tuning.ttl = Some(
                        u32::try_from(n)
                            .map_err(|_| bad(format!("ttl {n}: larger than a TTL may be")))?,
                    )
                }
                // lego's `*_POLLING_INTERVAL=0` means its default interval.
                "polling_interval" if n == 0 => {}
                key => {
                    if n == 0 {
                        return Err(bad(format!("{key} must be at least 1 second")));
                    }
                    let d = Some(Duration::from_secs(n));
                    if key == "propagation_timeout" {
                        tuning.propagation_timeout = d;
                    } else {
                        tuning.polling_interval = d;
                    }
                }
            }
        }
        Ok(Layered {
            values: merged,
            tuning,
            credentials,
        })
    }

    /// Read a certbot credentials file: `dns_<plugin>_<key> = value` lines (also certbot's
    /// old `certbot_dns_<plugin>:dns_<plugin>_<key>` form); `#`/`;` comments; keys of other
    /// plugins ignored, as certbot does; and certbot's warning when other users may read it.
    pub fn read_credentials(
        &'static self,
        path: &Path,
    ) -> Result<Map<String, Value>, ProviderError> {
        let bad = |m: String| config_error(self.provider(), m);
        if self.certbot_prefixes.is_empty() {
            return Err(bad(format!(
                "credentials {}: certbot has no {} plugin whose credentials file wildcert could read; \
                 give the settings in the section or the environment",
                path.display(),
                self.kind
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("credentials file {}: {e}", path.display())))?;
        warn_unsafe_permissions(path);
        let entries = ini::parse(&text).map_err(|ini::BadLine(n)| {
            bad(format!(
                "credentials file {}:{n}: expected `key = value`",
                path.display()
            ))
        })?;
        let mut out = Map::new();
        for entry in entries {
            let k = entry.key.as_str();
            let Some((prefix, short)) = self
                .certbot_prefixes
                .iter()
                .find_map(|p| k.strip_prefix(p).map(|s| (p, s)))
            else {
                continue;
            };
            let Some(setting) = self
                .settings
                .iter()
                .find(|s| s.certbot.is_some_and(|c| c == short))
            else {
                if !prefix.is_empty() {
                    warn_once(format!(
                        "{}: credentials file {}: `{k}` is not a setting wildcert knows; it is ignored",
                        self.kind,
                        path.display()
                    ));
                }
                continue;
            };
            if entry.value.is_empty() {
                continue;
            }
            out.insert(
                setting.key.to_string(),
                coerce(
                    self.provider(),
                    setting,
                    Origin::Ini(path, k),
                    &Value::String(entry.value.clone()),
                )?,
            );
        }
        Ok(out)
    }
}

/// Check a value against its setting's type; strings from the environment and ini files are
/// parsed. The JSON that comes out deserialises into the provider's settings struct.
fn coerce(kind: Kind, s: &Setting, origin: Origin<'_>, v: &Value) -> Result<Value, ProviderError> {
    let label = origin.label(s.key);
    let wrong = |what: &str| {
        config_error(
            kind,
            format!("{label}: expected {what}, found {}", describe(v, s)),
        )
    };
    match (s.ty, v) {
        (Type::Text | Type::Secret | Type::Path, Value::String(_)) => Ok(v.clone()),
        (Type::Text | Type::Secret | Type::Path, _) => Err(wrong("a string")),
        (Type::Bool, Value::Bool(_)) => Ok(v.clone()),
        (Type::Bool, Value::String(t)) => parse_bool(kind, &label, t).map(Value::Bool),
        (Type::Bool, _) => Err(wrong("true or false")),
        (Type::Seconds | Type::Number, Value::Number(n)) if n.as_u64().is_some() => Ok(v.clone()),
        (Type::Seconds, Value::String(t)) => parse_seconds(kind, &label, t).map(Value::from),
        (Type::Number, Value::String(t)) => t
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| config_error(kind, format!("{label}=`{t}`: expected a whole number"))),
        (Type::Seconds, _) => Err(wrong("a number of seconds")),
        (Type::Number, _) => Err(wrong("a whole number")),
        (Type::Duration, Value::Number(n)) if n.as_u64().is_some() => Ok(v.clone()),
        (Type::Duration, Value::String(_)) => Ok(v.clone()),
        (Type::Duration, _) => Err(wrong("seconds or a duration such as 90s")),
    }
}

fn describe(v: &Value, s: &Setting) -> String {
    if s.secret() {
        return "a value (not shown: it is a secret)".into();
    }
    match v {
        Value::String(t) => format!("`{t}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a table".into(),
        other => format!("`{other}`"),
    }
}

/// The candidate closest to `input` (any case, not `input` itself), when it is close enough to
/// be a likely typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let want = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| !c.eq_ignore_ascii_case(input))
        .map(|c| (strsim::jaro_winkler(&want, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// certbot's warning when other users may access a credentials file, once per path.
fn warn_unsafe_permissions(path: &Path) {
    if let Some(mode) = mode_if_open(path, 0o077) {
        warn_once(format!(
            "Unsafe permissions on credentials configuration file: {} (mode {mode:04o}); chmod 600 it",
            path.display()
        ));
    }
}

/// Log `message` as a warning once per process.
pub fn warn_once(message: String) {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned.contains(&message) {
        return;
    }
    tracing::warn!("{message}");
    warned.push(message);
}

/// A provider's settings struct tied to its [`Spec`]. Declare it with
/// `#[derive(LayeredSettings)]`: each field's doc comment and `#[setting(…)]` attribute become
/// a [`Setting`], the struct's `#[provider(…)]` attribute the rest of the [`Spec`], so a setting
/// is written once. Settings come from a `[providers.<id>]` section, a certbot credentials file
/// and the environment ([`Spec::layer`]).
pub trait LayeredSettings: serde::de::DeserializeOwned + Default {
    /// The provider's spec.
    const SPEC: &'static Spec;

    /// The settings from layered values ([`Spec::layer`]).
    fn from_layered(layered: &Layered) -> Result<Self, ProviderError> {
        layered.settings(Self::SPEC.provider())
    }

    /// Read what the provider takes from the environment besides its settings, into its
    /// `#[setting(skip)]` fields (route53: the AWS credential chain's variables, which the AWS
    /// SDKs read from the environment only). Nothing by default; the derive's
    /// `#[provider(env_only = "path")]` names the function. [`Self::from_env_map`] calls it, and
    /// a [`Registration`]'s build should with [`BuildContext::env`].
    fn read_env_only(&mut self, env: &HashMap<String, String>) -> Result<(), ProviderError> {
        let _ = env;
        Ok(())
    }

    /// The provider's settings from an environment map alone (blank values count as unset),
    /// with what [`Self::read_env_only`] reads. lego's common tuning variables are not part of
    /// the struct: a [`Registration`] attaches them to the provider.
    fn from_env_map(env: &HashMap<String, String>) -> Result<Self, ProviderError> {
        let mut settings = Self::from_layered(&Self::SPEC.layer(None, None, env)?)?;
        settings.read_env_only(env)?;
        Ok(settings)
    }

    /// The provider's settings from this process's environment (variables whose name or
    /// value is not UTF-8 are passed over).
    fn from_env() -> Result<Self, ProviderError> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from_env_map(&env)
    }
}

/// What a provider may need besides its settings.
#[derive(Clone, Copy, Debug)]
pub struct BuildContext<'a> {
    /// The run's environment (route53 reads the AWS credential chain's variables from it).
    pub env: &'a HashMap<String, String>,
    /// The store's root: providers that must remember things for cleanup after a crash keep
    /// them under `<state_dir>/providers/<kind>/`.
    pub state_dir: Option<&'a Path>,
}

/// How a [`Registration`] builds its provider from layered settings.
pub type BuildFn = fn(&Layered, &BuildContext<'_>) -> Result<Arc<dyn DnsProvider>, ProviderError>;

/// A provider kind as the registry lists it: its spec and how to build it from layered
/// settings.
#[derive(Clone, Copy)]
pub struct Registration {
    /// The spec.
    pub spec: &'static Spec,
    /// Build the provider from its layered settings.
    pub build: BuildFn,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("kind", &self.spec.kind)
            .finish()
    }
}

impl Registration {
    /// Layer the settings (section, credentials file, environment) and build the provider;
    /// lego's common tuning settings are attached to it ([`DnsProvider::tuning`]).
    pub fn create(
        &self,
        section: Option<&Map<String, Value>>,
        credentials: Option<&Path>,
        ctx: &BuildContext<'_>,
    ) -> Result<Arc<dyn DnsProvider>, ProviderError> {
        let layered = self.spec.layer(section, credentials, ctx.env)?;
        let provider = (self.build)(&layered, ctx)?;
        Ok(with_tuning(provider, layered.tuning))
    }

    /// Build the provider from the environment alone (`--dns KIND`).
    pub fn from_env(
        &self,
        env: &HashMap<String, String>,
    ) -> Result<Arc<dyn DnsProvider>, ProviderError> {
        self.create(
            None,
            None,
            &BuildContext {
                env,
                state_dir: None,
            },
        )
    }
}

/// Attach `tuning` to a provider: each value it sets wins over the provider's own.
pub fn with_tuning(provider: Arc<dyn DnsProvider>, tuning: ProviderTuning) -> Arc<dyn DnsProvider> {
    if tuning == ProviderTuning::default() {
        return provider;
    }
    Arc::new(Tuned {
        inner: provider,
        tuning,
    })
}

struct Tuned {
    inner: Arc<dyn DnsProvider>,
    tuning: ProviderTuning,
}

#[async_trait]
impl DnsProvider for Tuned {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        self.inner.zone_for(fqdn).await
    }
    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.inner.publish(zone, set).await
    }
    async fn wait_applied(
        &self,
        applied: &Applied,
        timeout: Duration,
    ) -> Result<(), ProviderError> {
        self.inner.wait_applied(applied, timeout).await
    }
    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.inner.unpublish(zone, set).await
    }
    fn credential_source(&self) -> Option<String> {
        self.inner.credential_source()
    }
    fn tuning(&self) -> ProviderTuning {
        let own = self.inner.tuning();
        ProviderTuning {
            ttl: self.tuning.ttl.or(own.ttl),
            propagation_timeout: self.tuning.propagation_timeout.or(own.propagation_timeout),
            polling_interval: self.tuning.polling_interval.or(own.polling_interval),
        }
    }
}

/// An environment map from `(name, value)` pairs, as [`Spec::layer`] and
/// [`LayeredSettings::from_env_map`] take it (tests, and callers that build one by hand).
pub fn env_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The object inside `v` (an empty one for anything else): a section written as `json!({…})`.
pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use env_map as env;

    static TEST: Spec = Spec {
        kind: "demo",
        summary: "a provider for these tests",
        doc: "docs/providers/demo.md",
        env_prefix: "DEMO",
        certbot_prefixes: &["dns_demo_"],
        settings: &[
            Setting {
                env: &["DEMO_TOKEN", "DM_TOKEN"],
                certbot: Some("token"),
                pair: Some("token_file"),
                ..Setting::new("token", Type::Secret, "the token")
            },
            Setting {
                env: &["DEMO_TOKEN_FILE"],
                pair: Some("token"),
                ..Setting::new("token_file", Type::Path, "the token's file")
            },
            Setting {
                env: &["DEMO_TCP"],
                certbot: Some("tcp"),
                ..Setting::new("tcp", Type::Bool, "use TCP")
            },
            Setting {
                env: &["DEMO_TIMEOUT"],
                ..Setting::new("timeout", Type::Seconds, "a timeout")
            },
        ],
        ignored_env: &[],
        hints: Hints::NONE,
    };

    #[test]
    fn layers_aliases_pairs_and_types() {
        let section =
            object(serde_json::json!({ "kind": "demo", "token": "from-file", "timeout": "30s" }));
        // The first variable set wins; a file given in a higher layer replaces the value below.
        let l = TEST
            .layer(Some(&section), None, &env(&[("DEMO_TOKEN_FILE", "/k")]))
            .expect("layers");
        assert_eq!(l.values.get("token"), None);
        assert_eq!(l.values["token_file"], "/k");
        assert_eq!(l.values["timeout"], 30);
        let l = TEST
            .layer(
                None,
                None,
                &env(&[("DM_TOKEN", "b"), ("DEMO_TOKEN", "a"), ("DEMO_TCP", "yes")]),
            )
            .expect("layers");
        assert_eq!(
            (l.values["token"].as_str(), l.values["tcp"].as_bool()),
            (Some("a"), Some(true))
        );
        // lego's common variables become tuning, not settings.
        let l = TEST
            .layer(
                None,
                None,
                &env(&[("DEMO_TTL", "300"), ("DEMO_POLLING_INTERVAL", "4s")]),
            )
            .expect("layers");
        assert_eq!(l.tuning.ttl, Some(300));
        assert_eq!(l.tuning.polling_interval, Some(Duration::from_secs(4)));
        // lego's `*_POLLING_INTERVAL=0` is its default, not an error; a zero timeout is refused.
        let l = TEST
            .layer(None, None, &env(&[("DEMO_POLLING_INTERVAL", "0")]))
            .expect("lego's zero interval");
        assert_eq!(l.tuning.polling_interval, None);
        let e = TEST
            .layer(None, None, &env(&[("DEMO_PROPAGATION_TIMEOUT", "0")]))
            .expect_err("a zero timeout");
        assert!(e.to_string().contains("propagation_timeout"), "{e}");
        assert!(!l.values.contains_key("ttl"));
        // Errors name the variable or key, and never echo a secret.
        let e = TEST
            .layer(None, None, &env(&[("DEMO_TIMEOUT", "soon")]))
            .expect_err("type");
        assert!(e.to_string().contains("DEMO_TIMEOUT"), "{e}");
        let s = object(serde_json::json!({ "token": 12345 }));
        let e = TEST
            .layer(Some(&s), None, &HashMap::new())
            .expect_err("type");
        assert!(
            e.to_string().contains("token") && !e.to_string().contains("12345"),
            "{e}"
        );
        let s = object(serde_json::json!({ "tokn": "x" }));
        let e = TEST
            .layer(Some(&s), None, &HashMap::new())
            .expect_err("unknown");
        assert!(e.to_string().contains("did you mean `token`"), "{e}");
        let s = object(serde_json::json!({ "kind": "other" }));
        assert!(TEST.layer(Some(&s), None, &HashMap::new()).is_err());
    }

    #[test]
    fn certbot_files_as_certbot_reads_them() {
        let dir = std::env::temp_dir().join(format!("wildcert-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("demo.ini");
        std::fs::write(
            &p,
            "# comment\n; another\ncertbot_dns_demo:dns_demo_token = \"quoted\"\n\
             dns_other_token = theirs\ndns_demo_tcp = true\n[profile x]\ndns_demo_tcp = false\n",
        )
        .expect("write");
        let creds = TEST.read_credentials(&p).expect("reads");
        assert_eq!(creds["token"], "quoted");
        assert_eq!(creds["tcp"], true);
        // The section's own keys win over the file; the environment over both.
        let section =
            object(serde_json::json!({ "credentials": p.to_str().expect("utf-8"), "tcp": false }));
        let l = TEST
            .layer(Some(&section), None, &env(&[("DEMO_TOKEN", "env")]))
            .expect("layers");
        assert_eq!(
            (l.values["token"].as_str(), l.values["tcp"].as_bool()),
            (Some("env"), Some(false))
        );
        assert_eq!(l.credentials.as_deref(), Some(p.as_path()));
        std::fs::write(&p, "no equals sign\n").expect("write");
        let e = TEST.read_credentials(&p).expect_err("bad line");
        assert!(e.to_string().contains("demo.ini:1"), "{e}");
        let e = TEST
            .read_credentials(&dir.join("missing.ini"))
            .expect_err("missing");
        assert!(e.to_string().contains("missing.ini"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn docs_table_and_view() {
        let t = TEST.markdown_table();
        assert!(
            t.contains("| `token` | secret | `DEMO_TOKEN`, `DM_TOKEN` | `dns_demo_token` |"),
            "{t}"
        );
        assert!(
            t.contains("`DEMO_PROPAGATION_TIMEOUT`") && t.contains("`DEMO_SEQUENCE_INTERVAL`"),
            "{t}"
        );
        let v = TEST.view();
        assert!(v.iter().any(|s| s.key == "token" && s.secret));
        assert_eq!(v.len(), TEST.settings.len() + COMMON.len());
    }
}
