//! The documents of `providers [NAME]`.

use serde::Serialize;
use wildcert_dns::spec::{SettingView, Spec};

use crate::error::{IssueError, did_you_mean};
use crate::providers::{kind, registry};

/// `providers --json`: every provider of this build.
#[derive(Debug, Clone, Serialize)]
pub struct ProvidersDoc {
    /// Always true.
    pub ok: bool,
    /// One entry per provider kind, in registry order.
    pub providers: Vec<Provider>,
}

/// `providers NAME --json`: one provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderDoc {
    /// Always true.
    pub ok: bool,
    /// The provider.
    pub provider: Provider,
}

/// A provider kind and what it reads.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    /// `kind = "…"` and `--dns` name.
    pub kind: String,
    /// One line on what it is.
    pub summary: String,
    /// Its documentation page (relative to the repository).
    pub doc: String,
    /// Its settings, its own first, then the common tuning ones.
    pub settings: Vec<ProviderSetting>,
    /// Environment variables it reads but cannot honour.
    pub ignored_env: Vec<String>,
    /// It reads certbot credentials files.
    pub certbot: bool,
}

/// One setting of a provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSetting {
    /// Key in the `[providers.<id>]` section.
    pub key: String,
    /// Environment names, comma-separated (the first set wins).
    pub env: String,
    /// The environment names one by one.
    pub env_names: Vec<String>,
    /// Certbot ini key (with the plugin prefix), if any.
    pub certbot: Option<String>,
    /// Type: `text`, `secret`, `path`, `bool`, `seconds`, `number` or `duration`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether it is a secret.
    pub secret: bool,
    /// Whether it must be given (`yes`, `no`, or a condition).
    pub required: String,
    /// Default (empty: none).
    pub default: String,
    /// One-line doc.
    pub description: String,
}

impl From<&SettingView> for ProviderSetting {
    fn from(s: &SettingView) -> Self {
        ProviderSetting {
            key: s.key.to_string(),
            env: s.env.clone(),
            env_names: s.env_names.clone(),
            certbot: s.certbot.clone(),
            ty: s.ty.name().to_string(),
            secret: s.secret,
            required: s.required.to_string(),
            default: s.default.to_string(),
            description: s.description.to_string(),
        }
    }
}

impl From<&Spec> for Provider {
    fn from(spec: &Spec) -> Self {
        Provider {
            kind: spec.kind.to_string(),
            summary: spec.summary.to_string(),
            doc: spec.doc.to_string(),
            settings: spec.view().iter().map(Into::into).collect(),
            ignored_env: spec.ignored().into_iter().map(|(v, _)| v).collect(),
            certbot: !spec.certbot_prefixes.is_empty(),
        }
    }
}

impl ProvidersDoc {
    /// Every provider of this build, in registry order.
    pub fn registry() -> Self {
        ProvidersDoc::new(registry().iter().map(|r| r.spec))
    }

    /// The document listing `specs`.
    pub fn new<'s>(specs: impl IntoIterator<Item = &'s Spec>) -> Self {
        ProvidersDoc {
            ok: true,
            providers: specs.into_iter().map(Provider::from).collect(),
        }
    }
}

impl ProviderDoc {
    /// The provider of kind `name`; an unknown kind is [`IssueError::UnknownProvider`] (with
    /// the closest kind when one is close).
    pub fn named(name: &str) -> Result<Self, IssueError> {
        match kind(name) {
            Some(r) => Ok(ProviderDoc::new(r.spec)),
            None => Err(IssueError::UnknownProvider {
                name: name.to_string(),
                suggestion: did_you_mean(name, registry().iter().map(|k| k.spec.kind)),
            }),
        }
    }

    /// The document of one provider.
    pub fn new(spec: &Spec) -> Self {
        ProviderDoc {
            ok: true,
            provider: spec.into(),
        }
    }
}
