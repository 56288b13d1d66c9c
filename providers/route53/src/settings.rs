//! Settings of the route53 provider: config file keys, environment variables (the AWS CLI's
//! and lego's names), layering, credentials (explicit, or a profile of the shared files), and
//! validation into a ready [`Route53Config`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns::settings::{
    check_kind, config_error, env_value, merge_secret_pair, parse_bool, read_setting_file,
    secret_or_file,
};
use wildcert_dns::{LayeredSettings, ProviderError, Secret, SettingDoc};

use crate::profile;
use crate::sigv4::Credentials;

/// Provider kind name.
pub const KIND: &str = "route53";

/// The public Route53 endpoint (global; signed for `us-east-1`).
pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com";

/// Default bound on retries of one throttled request.
pub const DEFAULT_MAX_RETRIES: u32 = 8;

/// Bound on one HTTP request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every setting, for `wildcert providers route53` and docs/providers/route53.md.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        key: "access_key_id",
        env: "AWS_ACCESS_KEY_ID",
        required: "unless a profile of the shared files gives it",
        default: "",
        description: "Access key id of an IAM user or role (with secret_access_key)",
    },
    SettingDoc {
        key: "secret_access_key",
        env: "AWS_SECRET_ACCESS_KEY",
        required: "with access_key_id (or secret_access_key_file)",
        default: "",
        description: "Secret access key (prefer secret_access_key_file: no secret in config or environment)",
    },
    SettingDoc {
        key: "secret_access_key_file",
        env: "AWS_SECRET_ACCESS_KEY_FILE",
        required: "no",
        default: "",
        description: "File holding the secret access key",
    },
    SettingDoc {
        key: "session_token",
        env: "AWS_SESSION_TOKEN",
        required: "for temporary credentials (ASIA… keys)",
        default: "",
        description: "Session token of temporary credentials (STS, SSO exports); sent signed as x-amz-security-token",
    },
    SettingDoc {
        key: "session_token_file",
        env: "AWS_SESSION_TOKEN_FILE",
        required: "no",
        default: "",
        description: "File holding the session token",
    },
    SettingDoc {
        key: "profile",
        env: "AWS_PROFILE",
        required: "no",
        default: "default",
        description: "Profile of the shared credentials/config files, used when no access key is given",
    },
    SettingDoc {
        key: "shared_credentials_file",
        env: "AWS_SHARED_CREDENTIALS_FILE",
        required: "no",
        default: "~/.aws/credentials",
        description: "Shared credentials file (`[NAME]` sections with aws_access_key_id, aws_secret_access_key, aws_session_token)",
    },
    SettingDoc {
        key: "config_file",
        env: "AWS_CONFIG_FILE",
        required: "no",
        default: "~/.aws/config",
        description: "Shared config file (`[profile NAME]` sections; region, and keys as in the credentials file)",
    },
    SettingDoc {
        key: "region",
        env: "AWS_REGION",
        required: "no",
        default: "us-east-1",
        description: "AWS region; Route53 is global and is signed for us-east-1 whatever this says, except in the China (cn-*) and GovCloud (us-gov-*) partitions",
    },
    SettingDoc {
        key: "hosted_zone_id",
        env: "AWS_HOSTED_ZONE_ID",
        required: "no",
        default: "looked up with ListHostedZonesByName",
        description: "Hosted zone to change (e.g. Z0123456789ABC); the zone apex is then found through DNS and no listing permission is needed",
    },
    SettingDoc {
        key: "private_zone",
        env: "AWS_PRIVATE_ZONE",
        required: "no",
        default: "false",
        description: "Use private hosted zones only (default: public zones only; a public CA cannot see private zones)",
    },
    SettingDoc {
        key: "endpoint_url",
        env: "AWS_ENDPOINT_URL_ROUTE_53, AWS_ENDPOINT_URL",
        required: "no",
        default: DEFAULT_ENDPOINT,
        description: "Route53 API endpoint (an emulator such as moto, or a proxy); the first variable wins",
    },
    SettingDoc {
        key: "max_retries",
        env: "AWS_MAX_RETRIES",
        required: "no",
        default: "8",
        description: "Retries of a throttled request (Throttling, PriorRequestNotComplete, HTTP 429/5xx), with jittered backoff, at most 2 minutes in all",
    },
];

/// Settings as written in `[providers.<id>]` (with `kind = "route53"`) or in the environment.
/// Every field is optional here so layers can be merged; [`Route53Settings::validate`] checks
/// the result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Settings {
    /// The section's `kind`; accepted so a whole `[providers.<id>]` section deserialises.
    #[serde(default)]
    pub kind: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// File holding the secret access key.
    pub secret_access_key_file: Option<PathBuf>,
    /// Session token.
    pub session_token: Option<Secret>,
    /// File holding the session token.
    pub session_token_file: Option<PathBuf>,
    /// Region.
    pub region: Option<String>,
    /// Profile of the shared files.
    pub profile: Option<String>,
    /// Shared credentials file.
    pub shared_credentials_file: Option<PathBuf>,
    /// Shared config file.
    pub config_file: Option<PathBuf>,
    /// Hosted zone id.
    pub hosted_zone_id: Option<String>,
    /// Private zones only.
    pub private_zone: Option<bool>,
    /// API endpoint.
    pub endpoint_url: Option<String>,
    /// Retry bound.
    pub max_retries: Option<u32>,
    /// The home directory (from `HOME` in the environment), for `~/.aws/*`.
    #[serde(skip)]
    pub home: Option<PathBuf>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl LayeredSettings for Route53Settings {
    /// Read the `AWS_*` variables (and `HOME`) from an environment map (values trimmed).
    fn from_env_map(env: &HashMap<String, String>) -> Result<Self, ProviderError> {
        let get = |k: &str| env_value(env, k).map(|v| v.trim().to_string());
        let max_retries = match get("AWS_MAX_RETRIES") {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| bad(format!("AWS_MAX_RETRIES=`{v}`: expected a number")))?,
            ),
        };
        Ok(Route53Settings {
            kind: None,
            access_key_id: get("AWS_ACCESS_KEY_ID"),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY").map(Secret::new),
            secret_access_key_file: get("AWS_SECRET_ACCESS_KEY_FILE").map(PathBuf::from),
            session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
            session_token_file: get("AWS_SESSION_TOKEN_FILE").map(PathBuf::from),
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            profile: get("AWS_PROFILE"),
            shared_credentials_file: get("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
            config_file: get("AWS_CONFIG_FILE").map(PathBuf::from),
            hosted_zone_id: get("AWS_HOSTED_ZONE_ID"),
            private_zone: get("AWS_PRIVATE_ZONE")
                .map(|v| parse_bool(KIND, "AWS_PRIVATE_ZONE", &v))
                .transpose()?,
            endpoint_url: get("AWS_ENDPOINT_URL_ROUTE_53").or_else(|| get("AWS_ENDPOINT_URL")),
            max_retries,
            home: get("HOME").map(PathBuf::from),
        })
    }

    /// Layer `over` on top of `self`: every setting `over` gives wins. A secret given in either
    /// form (value or `_file`) replaces both forms of the lower layer.
    fn merge(self, over: Route53Settings) -> Route53Settings {
        let (secret_access_key, secret_access_key_file) = merge_secret_pair(
            (self.secret_access_key, self.secret_access_key_file),
            (over.secret_access_key, over.secret_access_key_file),
        );
        let (session_token, session_token_file) = merge_secret_pair(
            (self.session_token, self.session_token_file),
            (over.session_token, over.session_token_file),
        );
        Route53Settings {
            kind: over.kind.or(self.kind),
            access_key_id: over.access_key_id.or(self.access_key_id),
            secret_access_key,
            secret_access_key_file,
            session_token,
            session_token_file,
            region: over.region.or(self.region),
            profile: over.profile.or(self.profile),
            shared_credentials_file: over
                .shared_credentials_file
                .or(self.shared_credentials_file),
            config_file: over.config_file.or(self.config_file),
            hosted_zone_id: over.hosted_zone_id.or(self.hosted_zone_id),
            private_zone: over.private_zone.or(self.private_zone),
            endpoint_url: over.endpoint_url.or(self.endpoint_url),
            max_retries: over.max_retries.or(self.max_retries),
            home: over.home.or(self.home),
        }
    }
}

impl Route53Settings {
    /// Check the settings, read secret and shared files, and build the provider's configuration.
    pub fn validate(&self) -> Result<Route53Config, ProviderError> {
        check_kind(KIND, self.kind.as_deref())?;
        let secret = secret_or_file(
            KIND,
            "secret_access_key",
            &self.secret_access_key,
            &self.secret_access_key_file,
        )?;
        let token = secret_or_file(
            KIND,
            "session_token",
            &self.session_token,
            &self.session_token_file,
        )?;
        let akid = self
            .access_key_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let profile_name = self
            .profile
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let shared = SharedFiles::load(self)?;

        let (credentials, source) = match (akid, secret) {
            (Some(id), Some(secret)) => (
                Credentials {
                    access_key_id: id.to_string(),
                    secret_access_key: secret,
                    session_token: token,
                },
                "settings/environment".to_string(),
            ),
            (Some(id), None) => {
                return Err(bad(format!(
                    "access_key_id `{id}` has no secret: set AWS_SECRET_ACCESS_KEY, secret_access_key_file (AWS_SECRET_ACCESS_KEY_FILE) or secret_access_key"
                )));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "a secret access key is given but no access key id: set AWS_ACCESS_KEY_ID (access_key_id)",
                ));
            }
            (None, None) => {
                shared.credentials(profile_name.unwrap_or("default"), profile_name.is_some())?
            }
        };
        if credentials.access_key_id.starts_with("ASIA") && credentials.session_token.is_none() {
            tracing::warn!(
                "route53: access key {} looks temporary (ASIA…) but no session token is set (AWS_SESSION_TOKEN)",
                credentials.access_key_id
            );
        }

        let region = self
            .region
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| shared.region(profile_name.unwrap_or("default")))
            .unwrap_or_else(|| "us-east-1".to_string());
        let (default_endpoint, signing_region) = partition(&region);
        let endpoint_text = self
            .endpoint_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default_endpoint);
        let endpoint = reqwest::Url::parse(endpoint_text)
            .map_err(|e| bad(format!("endpoint_url `{endpoint_text}`: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(bad(format!(
                "endpoint_url `{endpoint_text}`: expected an http(s) URL such as {DEFAULT_ENDPOINT}"
            )));
        }
        if endpoint.query().is_some() {
            return Err(bad(format!(
                "endpoint_url `{endpoint_text}`: must not carry a query string"
            )));
        }
        let hosted_zone_id = match self.hosted_zone_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(id) => Some(normalize_zone_id(id).ok_or_else(|| {
                bad(format!(
                    "hosted_zone_id `{id}`: expected an id such as Z0123456789ABC or /hostedzone/Z0123456789ABC"
                ))
            })?),
        };
        Ok(Route53Config {
            credentials,
            credentials_source: source,
            region,
            signing_region: signing_region.to_string(),
            endpoint,
            hosted_zone_id,
            private_zone: self.private_zone.unwrap_or(false),
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            retry_budget: Duration::from_secs(120),
            request_timeout: REQUEST_TIMEOUT,
        })
    }
}

/// The endpoint and signing region of the partition a region belongs to.
fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("https://route53.amazonaws.com.cn", "cn-northwest-1")
    } else if region.starts_with("us-gov-") {
        ("https://route53.us-gov.amazonaws.com", "us-gov-west-1")
    } else {
        (DEFAULT_ENDPOINT, "us-east-1")
    }
}

/// `Z123`, `/hostedzone/Z123` or `hostedzone/Z123` → `Z123`; `None` when not an id.
pub fn normalize_zone_id(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('/');
    let id = id.strip_prefix("hostedzone/").unwrap_or(id);
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then(|| id.to_string())
}

fn read(path: &Path, what: &str) -> Result<String, ProviderError> {
    read_setting_file(KIND, what, path)
}

/// A shared file: its path and sections when it exists, and the path searched.
type Loaded = (Option<(PathBuf, profile::Sections)>, Option<PathBuf>);

/// The shared credentials and config files, as far as they exist.
struct SharedFiles {
    credentials: Option<(PathBuf, profile::Sections)>,
    config: Option<(PathBuf, profile::Sections)>,
    searched: Vec<PathBuf>,
}

impl SharedFiles {
    fn load(s: &Route53Settings) -> Result<SharedFiles, ProviderError> {
        let home_file = |name: &str| s.home.as_ref().map(|h| h.join(".aws").join(name));
        // (the file, parsed, if it exists; the path searched)
        let one =
            |explicit: &Option<PathBuf>, name: &str, what: &str| -> Result<Loaded, ProviderError> {
                match explicit {
                    // An explicitly named file must exist.
                    Some(p) => Ok((
                        Some((p.clone(), profile::parse(&read(p, what)?))),
                        Some(p.clone()),
                    )),
                    None => match home_file(name) {
                        Some(p) if p.is_file() => {
                            Ok((Some((p.clone(), profile::parse(&read(&p, what)?))), Some(p)))
                        }
                        Some(p) => Ok((None, Some(p))),
                        None => Ok((None, None)),
                    },
                }
            };
        let (credentials, c_path) = one(
            &s.shared_credentials_file,
            "credentials",
            "shared_credentials_file",
        )?;
        let (config, f_path) = one(&s.config_file, "config", "config_file")?;
        Ok(SharedFiles {
            credentials,
            config,
            searched: c_path.into_iter().chain(f_path).collect(),
        })
    }

    fn region(&self, profile_name: &str) -> Option<String> {
        let (_, sections) = self.config.as_ref()?;
        profile::config_section(sections, profile_name)?
            .get("region")
            .filter(|r| !r.is_empty())
            .cloned()
    }

    fn credentials(
        &self,
        name: &str,
        explicit: bool,
    ) -> Result<(Credentials, String), ProviderError> {
        let from_creds = self
            .credentials
            .as_ref()
            .and_then(|(p, s)| profile::credentials_section(s, name).map(|sec| (p, sec)));
        let from_config = self
            .config
            .as_ref()
            .and_then(|(p, s)| profile::config_section(s, name).map(|sec| (p, sec)));
        for (path, sec) in from_creds.into_iter().chain(from_config) {
            let get = |k: &str| sec.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
            match (get("aws_access_key_id"), get("aws_secret_access_key")) {
                (Some(id), Some(secret)) => {
                    return Ok((
                        Credentials {
                            access_key_id: id.to_string(),
                            secret_access_key: Secret::new(secret),
                            session_token: get("aws_session_token").map(Secret::new),
                        },
                        format!("profile `{name}` in {}", path.display()),
                    ));
                }
                (Some(_), None) | (None, Some(_)) => {
                    return Err(bad(format!(
                        "profile `{name}` in {} needs both aws_access_key_id and aws_secret_access_key",
                        path.display()
                    )));
                }
                (None, None) => {
                    let unsupported: Vec<&str> = [
                        "role_arn",
                        "credential_process",
                        "sso_session",
                        "sso_start_url",
                        "web_identity_token_file",
                    ]
                    .into_iter()
                    .filter(|k| sec.contains_key(*k))
                    .collect();
                    if !unsupported.is_empty() {
                        return Err(bad(format!(
                            "profile `{name}` in {} uses {}, which wildcert does not run; export temporary credentials \
                             (`aws configure export-credentials --profile {name} --format env`) or give access keys",
                            path.display(),
                            unsupported.join(", ")
                        )));
                    }
                }
            }
        }
        let searched = if self.searched.is_empty() {
            "no shared files (HOME is not set)".to_string()
        } else {
            self.searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if explicit {
            Err(bad(format!(
                "profile `{name}` has no credentials in {searched}"
            )))
        } else {
            Err(bad(format!(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or access_key_id and \
                 secret_access_key_file), or a profile (AWS_PROFILE) with keys in the shared files (searched: {searched})"
            )))
        }
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct Route53Config {
    /// Credentials (the secret parts print as `***`).
    pub credentials: Credentials,
    /// Where the credentials came from, for messages.
    pub credentials_source: String,
    /// The configured region.
    pub region: String,
    /// The region requests are signed for (`us-east-1` outside China and GovCloud).
    pub signing_region: String,
    /// API endpoint.
    pub endpoint: reqwest::Url,
    /// The hosted zone to change, when configured.
    pub hosted_zone_id: Option<String>,
    /// Private hosted zones only.
    pub private_zone: bool,
    /// Retries of a throttled request.
    pub max_retries: u32,
    /// Bound on the retries of one request, in time.
    pub retry_budget: Duration,
    /// Bound on one HTTP request.
    pub request_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_over_file_and_secrets_hidden() {
        let file: Route53Settings = serde_json::from_value(serde_json::json!({
            "kind": "route53", "access_key_id": "AKIAFILE", "secret_access_key": "file-secret",
            "hosted_zone_id": "/hostedzone/Z1FILE", "private_zone": true
        }))
        .expect("deserialise");
        let envs = Route53Settings::from_env_map(&env(&[
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_ROUTE_53", "http://127.0.0.1:2/r53"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_SESSION_TOKEN", "tok"),
        ]))
        .expect("env");
        let merged = file.merge(envs);
        let cfg = merged.validate().expect("valid");
        assert_eq!(cfg.credentials.access_key_id, "AKIAFILE");
        assert_eq!(cfg.credentials.secret_access_key.expose(), "env-secret");
        assert_eq!(
            cfg.credentials.session_token.as_ref().map(Secret::expose),
            Some("tok")
        );
        assert_eq!(cfg.endpoint.as_str(), "http://127.0.0.1:2/r53");
        assert_eq!(cfg.region, "eu-west-1");
        assert_eq!(cfg.signing_region, "us-east-1");
        assert_eq!(cfg.hosted_zone_id.as_deref(), Some("Z1FILE"));
        assert!(cfg.private_zone);
        let debug = format!("{merged:?} {cfg:?}");
        assert!(
            !debug.contains("secret\"")
                && !debug.contains("env-secret")
                && !debug.contains("tok\""),
            "{debug}"
        );
    }

    #[test]
    fn unknown_keys_refused() {
        let r: Result<Route53Settings, _> =
            serde_json::from_value(serde_json::json!({ "acces_key_id": "x" }));
        assert!(r.is_err());
        let r: Result<Route53Settings, _> =
            serde_json::from_value(serde_json::json!({ "home": "/x" }));
        assert!(r.is_err(), "home is not a setting");
    }

    #[test]
    fn profiles_from_shared_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let aws = dir.path().join(".aws");
        std::fs::create_dir_all(&aws).expect("mkdir");
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = def-secret\n\
             [work]\naws_access_key_id = ASIAWORK\naws_secret_access_key = work-secret\naws_session_token = work-token\n",
        )
        .expect("write");
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = cn-north-1\n[profile work]\nregion = eu-central-1\n\
             [profile cfgonly]\naws_access_key_id = AKIACFG\naws_secret_access_key = cfg-secret\n\
             [profile sso]\nsso_session = corp\n",
        )
        .expect("write");
        let home = dir.path().to_string_lossy().to_string();
        let load = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("HOME", home.as_str())];
            pairs.extend_from_slice(extra);
            Route53Settings::from_env_map(&env(&pairs))
                .expect("env")
                .validate()
        };
        let d = load(&[]).expect("default profile");
        assert_eq!(d.credentials.access_key_id, "AKIADEF");
        assert_eq!(d.region, "cn-north-1");
        assert_eq!(d.signing_region, "cn-northwest-1");
        assert_eq!(d.endpoint.as_str(), "https://route53.amazonaws.com.cn/");
        let w = load(&[("AWS_PROFILE", "work")]).expect("work");
        assert_eq!(
            w.credentials.session_token.as_ref().map(Secret::expose),
            Some("work-token")
        );
        assert_eq!(w.region, "eu-central-1");
        assert!(w.credentials_source.contains("profile `work`"));
        let c = load(&[("AWS_PROFILE", "cfgonly")]).expect("config file keys");
        assert_eq!(c.credentials.access_key_id, "AKIACFG");
        let e = load(&[("AWS_PROFILE", "sso")]).expect_err("sso");
        assert!(e.to_string().contains("export-credentials"), "{e}");
        let e = load(&[("AWS_PROFILE", "nope")]).expect_err("missing");
        assert!(e.to_string().contains("profile `nope`"), "{e}");
        // Explicit keys beat the profile.
        let x = load(&[
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ])
        .expect("env keys");
        assert_eq!(x.credentials.access_key_id, "AKIAENV");
        // A named file must exist.
        let e = load(&[("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds")])
            .expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/creds"), "{e}");
    }

    #[test]
    fn missing_credentials_and_bad_values() {
        let e = Route53Settings::default().validate().expect_err("no creds");
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
        let s = Route53Settings {
            access_key_id: Some("AKIA".into()),
            ..Default::default()
        };
        assert!(
            s.validate()
                .expect_err("no secret")
                .to_string()
                .contains("no secret")
        );
        let ok = Route53Settings {
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some(Secret::new("s")),
            ..Default::default()
        };
        let cfg = ok.validate().expect("valid");
        assert_eq!(cfg.endpoint.as_str(), "https://route53.amazonaws.com/");
        assert_eq!(cfg.signing_region, "us-east-1");
        let bad_zone = Route53Settings {
            hosted_zone_id: Some("Z1/../x".into()),
            ..ok.clone()
        };
        assert!(bad_zone.validate().is_err());
        let bad_url = Route53Settings {
            endpoint_url: Some("ftp://x".into()),
            ..ok.clone()
        };
        assert!(bad_url.validate().is_err());
        let both = Route53Settings {
            secret_access_key_file: Some("/x".into()),
            ..ok
        };
        assert!(
            both.validate()
                .expect_err("both")
                .to_string()
                .contains("not both")
        );
        assert!(Route53Settings::from_env_map(&env(&[("AWS_PRIVATE_ZONE", "maybe")])).is_err());
    }
}
