//! Settings of the azuredns provider, declared once: `wildcert providers azuredns`,
//! docs/providers/azuredns.md and the layering of section and environment (lego's and the
//! Azure SDKs' names) all come from [`AzureDnsSettings`]; [`AzureDnsSettings::validate`]
//! makes an [`AzureConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{
    base_url, config_error, https_base_url, read_secret_text, secret_or_file,
};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

use crate::credential::{CertificateKey, Credential, ManagedIdentity};

/// Provider kind.
pub const KIND: Kind = AzureDnsSettings::KIND;

/// The azuredns provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: AzureDnsSettings::SPEC,
    build: |layered, _| {
        let settings = AzureDnsSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::AzureDnsProvider::new(
            &settings,
        )?))
    },
};

/// The Azure clouds: (name, Resource Manager, Entra ID login authority).
pub const CLOUDS: [(&str, &str, &str); 3] = [
    (
        "public",
        "https://management.azure.com",
        "https://login.microsoftonline.com",
    ),
    (
        "china",
        "https://management.chinacloudapi.cn",
        "https://login.chinacloudapi.cn",
    ),
    (
        "usgovernment",
        "https://management.usgovcloudapi.net",
        "https://login.microsoftonline.us",
    ),
];

/// The instance metadata service of Azure VMs (managed identity).
pub const DEFAULT_IMDS: &str = "http://169.254.169.254";

/// Settings as written in `[providers.<id>]` (with `kind = "azuredns"`) or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "azuredns",
    summary = "Azure DNS (Resource Manager; client secret or certificate, workload or managed identity), \
               TXT record sets rewritten with ETag / If-Match",
    env_prefix = "AZURE",
    ignored(
        var = "AZURE_SERVICEDISCOVERY_FILTER",
        reason = "no Resource Graph query: zones are listed in AZURE_SUBSCRIPTION_ID (narrow with AZURE_RESOURCE_GROUP or AZURE_ZONE_NAME)"
    ),
    hint_auth = "check AZURE_TENANT_ID / AZURE_CLIENT_ID and the secret, certificate or federated token; the identity needs \
                 the `DNS Zone Contributor` role (`Private DNS Zone Contributor` for private zones) on the zone",
    hint_zone_not_found = "check AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZURE_PRIVATE_ZONE (public and private \
                           zones are listed apart); the identity needs at least Reader on the zone"
)]
pub struct AzureDnsSettings {
    /// Entra ID tenant (directory) id of the service principal
    #[setting(env = ["AZURE_TENANT_ID"])]
    pub tenant_id: Option<String>,
    /// Application (client) id of the service principal, or of a user-assigned managed identity
    #[setting(env = ["AZURE_CLIENT_ID"])]
    pub client_id: Option<String>,
    /// Client secret of the service principal
    #[setting(env = ["AZURE_CLIENT_SECRET"], pair = "client_secret_file")]
    pub client_secret: Option<Secret>,
    /// File holding the client secret
    #[setting(env = ["AZURE_CLIENT_SECRET_FILE"], pair = "client_secret")]
    pub client_secret_file: Option<PathBuf>,
    /// PEM file with the service principal's certificate and its unencrypted private key (RSA)
    #[setting(env = ["AZURE_CLIENT_CERTIFICATE_PATH"])]
    pub client_certificate_path: Option<PathBuf>,
    /// File holding a federated token (workload identity: set by AKS' webhook)
    #[setting(env = ["AZURE_FEDERATED_TOKEN_FILE", "AZURE_OIDC_TOKEN_FILE_PATH"])]
    pub federated_token_file: Option<PathBuf>,
    /// How to sign in: `env` (secret or certificate), `wli` (workload identity), `msi`
    /// (managed identity); by default the first of these that is configured
    #[setting(default = "the first one configured", env = ["AZURE_AUTH_METHOD"])]
    pub auth_method: Option<String>,
    /// Seconds to wait for the managed identity endpoint
    #[setting(default = "2", env = ["AZURE_AUTH_MSI_TIMEOUT"], ty = "seconds")]
    pub auth_msi_timeout: Option<u64>,
    /// Subscription holding the zone
    #[setting(required = "always", env = ["AZURE_SUBSCRIPTION_ID"])]
    pub subscription_id: Option<String>,
    /// Resource group of the zone; by default found by listing the subscription's zones
    #[setting(default = "looked up through the API", env = ["AZURE_RESOURCE_GROUP"])]
    pub resource_group: Option<String>,
    /// The zone to write into; by default the longest zone listed that holds the name
    #[setting(default = "looked up through the API", env = ["AZURE_ZONE_NAME"])]
    pub zone: Option<String>,
    /// Use Azure Private DNS zones (`privateDnsZones`) instead of public ones
    #[setting(default = "false", env = ["AZURE_PRIVATE_ZONE"])]
    pub private_zone: Option<bool>,
    /// Azure cloud: `public`, `china` or `usgovernment` (sets both URLs below)
    #[setting(default = "public", env = ["AZURE_ENVIRONMENT"])]
    pub environment: Option<String>,
    /// Resource Manager root (for proxies and tests); requests go to `{base_url}/subscriptions/…`
    #[setting(default = "https://management.azure.com (by environment)", env = ["AZURE_API_URL", "AZURE_RESOURCE_MANAGER_ENDPOINT"])]
    pub base_url: Option<String>,
    /// Entra ID login authority; tokens come from `{authority_host}/{tenant}/oauth2/v2.0/token`
    #[setting(default = "https://login.microsoftonline.com (by environment)", env = ["AZURE_AUTHORITY_HOST"])]
    pub authority_host: Option<String>,
    /// Instance metadata service root (managed identity on VMs)
    #[setting(default = "http://169.254.169.254", env = ["AZURE_POD_IDENTITY_AUTHORITY_HOST"])]
    pub imds_endpoint: Option<String>,
    /// Managed identity endpoint of App Service and Functions (with identity_header)
    #[setting(env = ["IDENTITY_ENDPOINT"])]
    pub identity_endpoint: Option<String>,
    /// Secret header value of the App Service managed identity endpoint
    #[setting(env = ["IDENTITY_HEADER"])]
    pub identity_header: Option<Secret>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["AZURE_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 (Resource Manager throttling), in all
    #[setting(default = "120", env = ["AZURE_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// A trimmed, non-empty text setting.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An id that goes into a URL path: letters, digits, `-`, `_`, `.`, `(`, `)`.
fn path_id(v: Option<String>, what: &str) -> Result<Option<String>, ProviderError> {
    let ok = |s: &String| {
        s.len() <= 90
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
    };
    match v {
        Some(s) if !ok(&s) => Err(bad(format!("{what} `{s}`: not a valid Azure id or name"))),
        v => Ok(v),
    }
}

impl AzureDnsSettings {
    /// Check the settings, read the secret and certificate files, build the configuration.
    pub fn validate(&self) -> Result<AzureConfig, ProviderError> {
        let env = text(&self.environment).unwrap_or_else(|| "public".into());
        let cloud = CLOUDS.iter().find(|c| c.0.eq_ignore_ascii_case(&env));
        let &(_, arm, login) = cloud.ok_or_else(|| {
            bad(format!(
                "environment (AZURE_ENVIRONMENT) `{env}`: use public, china or usgovernment"
            ))
        })?;
        let url = |v: &Option<String>, default: &str, key: &str| {
            https_base_url(KIND, key, &text(v).unwrap_or_else(|| default.into()), &[])
        };
        let subscription = path_id(
            text(&self.subscription_id),
            "subscription_id (AZURE_SUBSCRIPTION_ID)",
        )?
        .ok_or_else(|| bad("no subscription: set `subscription_id` (AZURE_SUBSCRIPTION_ID)"))?;
        let zone = text(&self.zone).map(|z| {
            DnsName::parse(&z).map_err(|e| bad(format!("zone (AZURE_ZONE_NAME) `{z}`: {e}")))
        });
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(AzureConfig {
            credential: self.credential()?,
            subscription,
            resource_group: path_id(
                text(&self.resource_group),
                "resource_group (AZURE_RESOURCE_GROUP)",
            )?,
            zone: zone.transpose()?,
            private_zone: self.private_zone.unwrap_or(false),
            base_url: url(&self.base_url, arm, "base_url (AZURE_API_URL)")?,
            authority: url(
                &self.authority_host,
                login,
                "authority_host (AZURE_AUTHORITY_HOST)",
            )?,
            scope: format!("{arm}/.default"),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }

    /// The credential `auth_method` names, or the first one configured.
    fn credential(&self) -> Result<Credential, ProviderError> {
        let method = text(&self.auth_method).map(|m| m.to_ascii_lowercase());
        let secret = secret_or_file(
            KIND,
            "client_secret",
            &self.client_secret,
            &self.client_secret_file,
        )?;
        let cert = self.client_certificate_path.clone();
        let wli = self.federated_token_file.clone();
        let method = match method.as_deref() {
            Some(m @ ("env" | "wli" | "msi")) => m,
            Some(m @ ("cli" | "oidc" | "pipeline")) => {
                return Err(bad(format!(
                    "auth_method (AZURE_AUTH_METHOD) `{m}` is not supported by wildcert: use env \
                     (a client secret or certificate), wli (AZURE_FEDERATED_TOKEN_FILE) or msi"
                )));
            }
            Some(m) => {
                return Err(bad(format!(
                    "auth_method (AZURE_AUTH_METHOD) `{m}`: use env, wli or msi"
                )));
            }
            None if secret.is_some() || cert.is_some() => "env",
            None if wli.is_some() => "wli",
            None => "msi",
        };
        let client_id = path_id(text(&self.client_id), "client_id (AZURE_CLIENT_ID)")?;
        if method == "msi" {
            let identity = match (text(&self.identity_endpoint), &self.identity_header) {
                (Some(e), Some(h)) => ManagedIdentity::AppService {
                    endpoint: base_url(KIND, "identity_endpoint (IDENTITY_ENDPOINT)", &e, &[])?,
                    header: h.clone(),
                },
                (Some(_), None) => {
                    return Err(bad(
                        "identity_endpoint (IDENTITY_ENDPOINT) is set without identity_header (IDENTITY_HEADER)",
                    ));
                }
                _ => {
                    let imds = text(&self.imds_endpoint).unwrap_or_else(|| DEFAULT_IMDS.into());
                    let key = "imds_endpoint (AZURE_POD_IDENTITY_AUTHORITY_HOST)";
                    ManagedIdentity::Imds(base_url(KIND, key, &imds, &[])?)
                }
            };
            let timeout = Duration::from_secs(self.auth_msi_timeout.unwrap_or(2).max(1));
            return Ok(Credential::Managed {
                client_id,
                identity,
                timeout,
            });
        }
        let need = |v: Option<String>, key: &str, var: &str| {
            v.ok_or_else(|| bad(format!("auth_method {method} needs `{key}` ({var})")))
        };
        let tenant = need(
            path_id(text(&self.tenant_id), "tenant_id (AZURE_TENANT_ID)")?,
            "tenant_id",
            "AZURE_TENANT_ID",
        )?;
        let client_id = need(client_id, "client_id", "AZURE_CLIENT_ID")?;
        match (method, secret, cert, wli) {
            ("env", Some(secret), _, _) => Ok(Credential::Secret {
                tenant,
                client_id,
                secret,
            }),
            ("env", None, Some(path), _) => {
                let pem = read_secret_text(KIND, "client_certificate_path", &path)?;
                let key = CertificateKey::from_pem(&pem).map_err(|why| {
                    bad(format!(
                        "client_certificate_path (AZURE_CLIENT_CERTIFICATE_PATH) {}: {why}",
                        path.display()
                    ))
                })?;
                Ok(Credential::Certificate {
                    tenant,
                    client_id,
                    key,
                })
            }
            ("wli", _, _, Some(file)) => Ok(Credential::Workload {
                tenant,
                client_id,
                file,
            }),
            ("wli", ..) => Err(bad(
                "auth_method wli needs `federated_token_file` (AZURE_FEDERATED_TOKEN_FILE)",
            )),
            _ => Err(bad(
                "auth_method env needs `client_secret` (AZURE_CLIENT_SECRET) or `client_certificate_path` \
                 (AZURE_CLIENT_CERTIFICATE_PATH)",
            )),
        }
    }
}

/// Validated configuration of the provider.
#[derive(Debug)]
pub struct AzureConfig {
    /// How tokens are obtained.
    pub credential: Credential,
    /// Subscription id.
    pub subscription: String,
    /// Resource group, when given.
    pub resource_group: Option<String>,
    /// The zone given explicitly, if any.
    pub zone: Option<DnsName>,
    /// Private DNS zones instead of public ones.
    pub private_zone: bool,
    /// Resource Manager root.
    pub base_url: reqwest::Url,
    /// Login authority root.
    pub authority: reqwest::Url,
    /// OAuth2 scope of Resource Manager in the chosen cloud (`…/.default`).
    pub scope: String,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    fn cfg(pairs: &[(&str, &str)]) -> Result<AzureConfig, ProviderError> {
        AzureDnsSettings::from_env_map(&env(pairs))?.validate()
    }

    #[test]
    fn lego_names_clouds_and_credentials() {
        let base = [
            ("AZURE_SUBSCRIPTION_ID", "sub-1"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ];
        let c = cfg(&[&base[..], &[("AZURE_CLIENT_SECRET", "s3cret")]].concat()).expect("valid");
        assert_eq!(c.base_url.as_str(), "https://management.azure.com/");
        assert_eq!(c.authority.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(c.scope, "https://management.azure.com/.default");
        assert!(matches!(c.credential, Credential::Secret { .. }));
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = cfg(&[
            &base[..],
            &[
                ("AZURE_ENVIRONMENT", "china"),
                ("AZURE_FEDERATED_TOKEN_FILE", "/t"),
            ],
        ]
        .concat())
        .expect("valid");
        assert_eq!(c.base_url.as_str(), "https://management.chinacloudapi.cn/");
        assert_eq!(c.authority.as_str(), "https://login.chinacloudapi.cn/");
        assert!(matches!(c.credential, Credential::Workload { .. }));
        let c = cfg(&[
            ("AZURE_SUBSCRIPTION_ID", "s"),
            ("AZURE_ENVIRONMENT", "usgovernment"),
        ])
        .expect("msi");
        assert_eq!(c.scope, "https://management.usgovcloudapi.net/.default");
        assert!(matches!(
            c.credential,
            Credential::Managed {
                identity: ManagedIdentity::Imds(_),
                ..
            }
        ));
        let c = cfg(&[
            ("AZURE_SUBSCRIPTION_ID", "s"),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ])
        .expect("app service");
        assert!(matches!(
            c.credential,
            Credential::Managed {
                identity: ManagedIdentity::AppService { .. },
                ..
            }
        ));
        let c = cfg(&[
            ("AZURE_SUBSCRIPTION_ID", "s"),
            ("AZURE_API_URL", "http://127.0.0.1:9/"),
            ("AZURE_PRIVATE_ZONE", "true"),
            ("AZURE_ZONE_NAME", "Example.COM."),
            ("AZURE_RESOURCE_GROUP", "rg-1"),
        ])
        .expect("valid");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:9/");
        assert!(c.private_zone);
        assert_eq!(
            c.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert_eq!(c.resource_group.as_deref(), Some("rg-1"));
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = |pairs: &[(&str, &str)]| cfg(pairs).expect_err("refused").to_string();
        assert!(e(&[]).contains("AZURE_SUBSCRIPTION_ID"));
        let s = ("AZURE_SUBSCRIPTION_ID", "s");
        let m = e(&[s, ("AZURE_CLIENT_SECRET", "hidden-value")]);
        assert!(
            m.contains("AZURE_TENANT_ID") && !m.contains("hidden-value"),
            "{m}"
        );
        let m = e(&[
            s,
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_SECRET", "hidden-value"),
        ]);
        assert!(m.contains("AZURE_CLIENT_ID"), "{m}");
        assert!(e(&[s, ("AZURE_ENVIRONMENT", "mars")]).contains("AZURE_ENVIRONMENT"));
        assert!(e(&[s, ("AZURE_AUTH_METHOD", "cli")]).contains("not supported"));
        assert!(e(&[s, ("AZURE_AUTH_METHOD", "wli")]).contains("AZURE_TENANT_ID"));
        assert!(e(&[("AZURE_SUBSCRIPTION_ID", "a/b")]).contains("AZURE_SUBSCRIPTION_ID"));
        assert!(e(&[s, ("AZURE_ZONE_NAME", "a..b")]).contains("AZURE_ZONE_NAME"));
        assert!(e(&[s, ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/")]).contains("IDENTITY_HEADER"));
        let m = e(&[
            s,
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent.pem"),
        ]);
        assert!(m.contains("client_certificate_path"), "{m}");
        assert!(
            AzureDnsSettings::from_env_map(&env(&[("AZURE_PRIVATE_ZONE", "perhaps")])).is_err()
        );
    }
}
