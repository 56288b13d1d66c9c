//! Settings of the gcloud provider, declared once: `wildcert providers gcloud`,
//! docs/providers/gcloud.md and the layering of section and environment (lego's `GCE_*` names,
//! `GOOGLE_APPLICATION_CREDENTIALS`) come from [`GcloudSettings`]; `validate` makes a
//! [`GcloudConfig`], reading and checking the service-account key before anything is ordered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::RsaKeyPair;
use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, read_secret_text};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = GcloudSettings::KIND;

/// The documented API root; requests go to `{base}/dns/v1/projects/…`.
pub const DEFAULT_BASE_URL: &str = "https://dns.googleapis.com";
/// The GCE metadata server (`GCE_METADATA_HOST`, as Google's libraries name it).
pub const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
/// The IAM Service Account Credentials API root (impersonation).
pub const DEFAULT_IAM_URL: &str = "https://iamcredentials.googleapis.com";

/// The gcloud provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: GcloudSettings::SPEC,
    build: |layered, _| {
        let settings = GcloudSettings::from_layered(layered)?;
        Ok(Arc::new(crate::GcloudProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "gcloud"`) or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "gcloud",
    summary = "Google Cloud DNS v1 (service-account key, GCE metadata server or impersonation), changes.create",
    env_prefix = "GCE",
    hint_auth = "give the service account the role DNS Administrator (roles/dns.admin) on the project or the zone; \
                 a deleted or disabled key is refused at the token endpoint",
    hint_zone_not_found = "listing zones needs dns.managedZones.list on the project: without it set zone_id \
                           (GCE_ZONE_ID) to the managed zone's name; private zones need GCE_ALLOW_PRIVATE_ZONE=true"
)]
pub struct GcloudSettings {
    /// Service-account key (the JSON document itself); wins over `service_account_file`
    #[setting(env = ["GCE_SERVICE_ACCOUNT"])]
    pub service_account: Option<Secret>,
    /// File holding the service-account key (JSON); without any key the GCE metadata server
    /// gives the token
    #[setting(env = ["GCE_SERVICE_ACCOUNT_FILE", "GOOGLE_APPLICATION_CREDENTIALS"])]
    pub service_account_file: Option<PathBuf>,
    /// Project id; by default the key's `project_id` (or the metadata server's project)
    #[setting(default = "from the key or the metadata server", env = ["GCE_PROJECT", "GOOGLE_CLOUD_PROJECT"])]
    pub project: Option<String>,
    /// Managed zone name or id to write into, so no zone listing (dns.managedZones.list) is needed
    #[setting(env = ["GCE_ZONE_ID"])]
    pub zone_id: Option<String>,
    /// Also write into private zones (visibility `private`); public zones are preferred
    #[setting(default = "false", env = ["GCE_ALLOW_PRIVATE_ZONE"])]
    pub allow_private_zone: Option<bool>,
    /// Service account (e-mail) to impersonate with the credentials above (iamcredentials
    /// generateAccessToken; needs roles/iam.serviceAccountTokenCreator on it)
    #[setting(env = ["GCE_IMPERSONATE_SERVICE_ACCOUNT"])]
    pub impersonate_service_account: Option<String>,
    /// API root; requests go to `{base_url}/dns/v1/projects/…` (plain http only to loopback)
    #[setting(default = "https://dns.googleapis.com", env = ["GCE_API_URL"])]
    pub base_url: Option<String>,
    /// Host (and port) of the GCE metadata server
    #[setting(default = "metadata.google.internal", env = ["GCE_METADATA_HOST"])]
    pub metadata_host: Option<String>,
    /// IAM Service Account Credentials API root (impersonation)
    #[setting(default = "https://iamcredentials.googleapis.com", env = ["GCE_IAM_API_URL"])]
    pub iam_url: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["GCE_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds to wait for one change to be `done` (changes.get)
    #[setting(default = "120", env = ["GCE_CHANGE_TIMEOUT"], ty = "seconds")]
    pub change_timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["GCE_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

/// A service-account key: who signs, with what, and where the token comes from.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email`.
    pub email: String,
    /// `private_key_id` (the JWT's `kid`).
    pub key_id: Option<String>,
    /// `private_key`, parsed.
    pub key: Arc<RsaKeyPair>,
    /// `token_uri`.
    pub token_uri: reqwest::Url,
    /// `project_id`.
    pub project_id: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let uri = self.token_uri.as_str();
        write!(f, "ServiceAccount({}, key ***, {uri})", self.email)
    }
}

/// Where the access token comes from.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A JWT bearer grant signed with the key, at its `token_uri`.
    Key(ServiceAccount),
    /// The GCE metadata server's default service account.
    Metadata,
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct GcloudConfig {
    /// Where the token comes from.
    pub credentials: Credentials,
    /// Service account to impersonate, if any.
    pub impersonate: Option<String>,
    /// The project (`None`: ask the metadata server).
    pub project: Option<String>,
    /// Managed zone given explicitly.
    pub zone_id: Option<String>,
    /// Write into private zones too.
    pub allow_private_zone: bool,
    /// Cloud DNS API root.
    pub base_url: reqwest::Url,
    /// `http://{GCE_METADATA_HOST}`.
    pub metadata_url: reqwest::Url,
    /// IAM credentials API root.
    pub iam_url: reqwest::Url,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting for one change.
    pub change_timeout: Duration,
    /// Bound on waiting out rate limits, for the whole run.
    pub rate_limit_wait: Duration,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// A text setting, trimmed, `None` when blank.
fn text(v: &Option<String>) -> Option<String> {
    let t = v.as_deref().map(str::trim).filter(|s| !s.is_empty());
    t.map(str::to_string)
}

impl GcloudSettings {
    /// Check the settings, read and check the service-account key, build the configuration.
    pub fn validate(&self) -> Result<GcloudConfig, ProviderError> {
        let key = match (&self.service_account, &self.service_account_file) {
            (Some(s), _) if !s.expose().trim().is_empty() => Some(parse_key(
                s.expose(),
                "service_account (GCE_SERVICE_ACCOUNT)",
            )?),
            (_, Some(p)) => {
                let what = "service_account_file (GCE_SERVICE_ACCOUNT_FILE or GOOGLE_APPLICATION_CREDENTIALS)";
                let text = read_secret_text(KIND, what, p)?;
                let what = format!("{what} {}", p.display());
                Some(parse_key(&text, &what)?)
            }
            _ => None,
        };
        let project = text(&self.project).or_else(|| key.as_ref()?.project_id.clone());
        if let Some(p) = &project {
            let ok = p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
            if !ok {
                return Err(bad(format!(
                    "project (GCE_PROJECT) `{p}` is not a project id"
                )));
            }
        }
        let url = |v: &Option<String>, default: &str, key: &str| {
            https_base_url(KIND, key, text(v).as_deref().unwrap_or(default), &[])
        };
        let host = text(&self.metadata_host).unwrap_or_else(|| DEFAULT_METADATA_HOST.into());
        let host = host.trim_start_matches("http://").trim_end_matches('/');
        let metadata_url = reqwest::Url::parse(&format!("http://{host}"))
            .ok()
            .filter(|u| u.path() == "/" && u.query().is_none())
            .ok_or_else(|| {
                bad(format!(
                    "metadata_host (GCE_METADATA_HOST) `{host}` is not HOST[:PORT]"
                ))
            })?;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(GcloudConfig {
            credentials: key.map_or(Credentials::Metadata, Credentials::Key),
            impersonate: text(&self.impersonate_service_account),
            project,
            zone_id: text(&self.zone_id),
            allow_private_zone: self.allow_private_zone.unwrap_or(false),
            base_url: url(&self.base_url, DEFAULT_BASE_URL, "base_url (GCE_API_URL)")?,
            metadata_url,
            iam_url: url(&self.iam_url, DEFAULT_IAM_URL, "iam_url (GCE_IAM_API_URL)")?,
            timeout: secs(self.timeout, 30),
            change_timeout: secs(self.change_timeout, 120),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// The fields of a key file we use.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<Secret>,
    client_email: Option<String>,
    token_uri: Option<String>,
}

/// Parse a service-account key (`what` names where it came from); errors never quote it.
pub fn parse_key(json: &str, what: &str) -> Result<ServiceAccount, ProviderError> {
    let file: KeyFile = serde_json::from_str(json).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        bad(format!(
            "{what} is not a JSON service-account key (line {line}, column {column})"
        ))
    })?;
    if let Some(k) = file.kind.as_deref().filter(|k| *k != "service_account") {
        return Err(bad(format!(
            "{what} is a `{k}` credential; only a service-account key (`service_account`) is \
             supported: create a key for a service account, or use the metadata server"
        )));
    }
    let lacks = |field: &str| {
        bad(format!(
            "{what} lacks `{field}`: is it a service-account key?"
        ))
    };
    let email = file.client_email.ok_or_else(|| lacks("client_email"))?;
    let pem = file.private_key.ok_or_else(|| lacks("private_key"))?;
    let uri = file.token_uri.ok_or_else(|| lacks("token_uri"))?;
    let token_uri = https_base_url(KIND, &format!("token_uri of {what}"), &uri, &[])?;
    let der = pem_body(pem.expose()).ok_or_else(|| {
        bad(format!(
            "{what}: `private_key` is not a PEM `PRIVATE KEY` (PKCS#8)"
        ))
    })?;
    let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| {
        bad(format!(
            "{what}: `private_key` is not a usable RSA key ({e})"
        ))
    })?;
    Ok(ServiceAccount {
        email,
        key_id: file.private_key_id,
        key: Arc::new(key),
        token_uri,
        project_id: file.project_id.filter(|p| !p.is_empty()),
    })
}

/// The DER inside `-----BEGIN PRIVATE KEY-----` … `-----END PRIVATE KEY-----`.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let (_, rest) = pem.split_once("-----BEGIN PRIVATE KEY-----")?;
    let (body, _) = rest.split_once("-----END PRIVATE KEY-----")?;
    let b64: String = body.split_whitespace().collect();
    STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn lego_names_and_defaults() {
        let s = GcloudSettings::from_env_map(&env(&[
            ("GCE_PROJECT", "my-proj"),
            ("GCE_ZONE_ID", "example-zone"),
            ("GCE_ALLOW_PRIVATE_ZONE", "true"),
            ("GCE_METADATA_HOST", "127.0.0.1:8080"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert!(matches!(cfg.credentials, Credentials::Metadata));
        assert_eq!(cfg.base_url.as_str(), "https://dns.googleapis.com/");
        assert_eq!(cfg.metadata_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(cfg.project.as_deref(), Some("my-proj"));
        assert_eq!(cfg.zone_id.as_deref(), Some("example-zone"));
        assert!(cfg.allow_private_zone);
        let s = GcloudSettings::from_env_map(&env(&[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/nonexistent/key.json",
        )]))
        .expect("env");
        let e = s.validate().expect_err("unreadable").to_string();
        assert!(
            e.contains("GOOGLE_APPLICATION_CREDENTIALS") && e.contains("/nonexistent/key.json"),
            "{e}"
        );
    }

    #[test]
    fn bad_keys_say_what_is_wrong_and_never_quote_the_key() {
        let with = |json: &str| {
            GcloudSettings {
                service_account: Some(Secret::new(json)),
                ..Default::default()
            }
            .validate()
            .expect_err("refused")
            .to_string()
        };
        let e = with("{\"private_key\": \"s3cret-key-material\"");
        assert!(
            e.contains("GCE_SERVICE_ACCOUNT") && e.contains("not a JSON"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        let e =
            with(r#"{"type": "service_account", "client_email": "a@b", "token_uri": "https://t"}"#);
        assert!(e.contains("lacks `private_key`"), "{e}");
        let e = with(r#"{"type": "authorized_user", "refresh_token": "s3cret"}"#);
        assert!(
            e.contains("authorized_user") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with(
            r#"{"client_email": "a@b", "token_uri": "https://t", "private_key": "s3cret-not-pem"}"#,
        );
        assert!(e.contains("PKCS#8") && !e.contains("s3cret"), "{e}");
        let e = with(concat!(
            r#"{"client_email": "a@b", "token_uri": "https://t", "private_key": "#,
            r#""-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#
        ));
        assert!(e.contains("not a usable RSA key"), "{e}");
        let e = GcloudSettings {
            project: Some("a b".into()),
            ..Default::default()
        }
        .validate()
        .expect_err("bad project")
        .to_string();
        assert!(e.contains("GCE_PROJECT"), "{e}");
        let e = GcloudSettings {
            base_url: Some("ftp://x".into()),
            ..Default::default()
        }
        .validate()
        .expect_err("bad url")
        .to_string();
        assert!(e.contains("GCE_API_URL"), "{e}");
        assert!(
            GcloudSettings::from_env_map(&env(&[("GCE_ALLOW_PRIVATE_ZONE", "maybe")])).is_err()
        );
    }
}
