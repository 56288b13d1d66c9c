//! The route53 settings checked and turned into a ready [`Route53Config`]: the endpoint and
//! signing region of the region's partition, and where credentials come from ([`Source`]),
//! decided from the settings, the environment and the shared files without any network call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wildcert_provider::settings::{read_setting_file, secret_or_file};
use wildcert_provider::{ProviderError, Secret};

use crate::chain::{ECS_HOST, IMDS_ENDPOINT, Source, Sts, sso_cache_file};
use crate::profile;
use crate::settings::{
    Ambient, DEFAULT_ENDPOINT, DEFAULT_MAX_RETRIES, DEFAULT_RATE_LIMIT_WAIT, KIND, REQUEST_TIMEOUT,
    Route53Settings, bad,
};
use crate::sigv4::Credentials;

impl Route53Settings {
    /// Check the settings, read secret and shared files, and build the provider's configuration.
    pub fn validate(&self) -> Result<Route53Config, ProviderError> {
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
        let akid = nonempty(&self.access_key_id);
        let profile_name = nonempty(&self.profile);
        let shared = SharedFiles::load(self)?;
        let region = nonempty(&self.region)
            .map(str::to_string)
            .or_else(|| shared.region(profile_name.unwrap_or("default")))
            .unwrap_or_else(|| "us-east-1".to_string());
        let sts = self.sts(&region)?;
        let resolver = Resolver {
            settings: self,
            shared: &shared,
            sts: &sts,
        };

        let source = match (akid, secret) {
            (Some(id), Some(secret)) => Source::Static {
                credentials: Credentials {
                    access_key_id: id.to_string(),
                    secret_access_key: secret,
                    session_token: token,
                },
                from: "settings/environment (access_key_id / AWS_ACCESS_KEY_ID)".to_string(),
            },
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
            (None, None) => resolver.chain(profile_name)?,
        };
        if let Source::Static { credentials, .. } = &source
            && credentials.access_key_id.starts_with("ASIA")
            && credentials.session_token.is_none()
        {
            tracing::warn!(
                "route53: access key {} looks temporary (ASIA…) but no session token is set (AWS_SESSION_TOKEN)",
                credentials.access_key_id
            );
        }
        let source = match nonempty(&self.assume_role_arn) {
            None => source,
            Some(arn) => Source::AssumeRole {
                base: Box::new(source),
                role_arn: arn.to_string(),
                external_id: nonempty(&self.external_id).map(str::to_string),
                session_name: session_name(&self.ambient),
                duration_seconds: None,
                sts: sts.clone(),
                from: "AWS_ASSUME_ROLE_ARN".to_string(),
            },
        };
        if self.assume_role_arn.is_none() && nonempty(&self.external_id).is_some() {
            tracing::warn!(
                "route53: external_id (AWS_EXTERNAL_ID) is set but no assume_role_arn (AWS_ASSUME_ROLE_ARN); it is not used"
            );
        }

        let (default_endpoint, signing_region) = partition(&region);
        let endpoint_text = nonempty(&self.endpoint_url).unwrap_or(default_endpoint);
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
        let hosted_zone_id = match nonempty(&self.hosted_zone_id) {
            None => None,
            Some(id) => Some(normalize_zone_id(id).ok_or_else(|| {
                bad(format!(
                    "hosted_zone_id `{id}`: expected an id such as Z0123456789ABC or /hostedzone/Z0123456789ABC"
                ))
            })?),
        };
        Ok(Route53Config {
            credentials_source: source.describe(),
            source,
            region,
            signing_region: signing_region.to_string(),
            endpoint,
            hosted_zone_id,
            private_zone: self.private_zone.unwrap_or(false),
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            retry_budget: Duration::from_secs(120),
            request_timeout: REQUEST_TIMEOUT,
            rate_limit_wait: self
                .rate_limit_wait
                .map_or(DEFAULT_RATE_LIMIT_WAIT, Duration::from_secs),
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
                        Some((
                            p.clone(),
                            profile::parse(&read_setting_file(KIND, what, p)?),
                        )),
                        Some(p.clone()),
                    )),
                    None => match home_file(name) {
                        Some(p) if p.is_file() => Ok((
                            Some((
                                p.clone(),
                                profile::parse(&read_setting_file(KIND, what, &p)?),
                            )),
                            Some(p),
                        )),
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
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `AWS_ROLE_SESSION_NAME`, else `wildcert-<unix time>` (as the SDKs name sessions).
fn session_name(ambient: &Ambient) -> String {
    nonempty(&ambient.role_session_name)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "wildcert-{}",
                time::OffsetDateTime::now_utc().unix_timestamp()
            )
        })
}

/// An endpoint URL without its trailing slash, checked.
fn endpoint(what: &str, url: &str) -> Result<String, ProviderError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("{what} `{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad(format!("{what} `{url}`: expected an http(s) URL")));
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl Route53Settings {
    /// STS: `sts_endpoint_url` (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`), else the regional endpoint.
    fn sts(&self, region: &str) -> Result<Sts, ProviderError> {
        let endpoint = match nonempty(&self.sts_endpoint_url) {
            Some(u) => endpoint("sts_endpoint_url", u)?,
            None if region.starts_with("cn-") => format!("https://sts.{region}.amazonaws.com.cn"),
            None => format!("https://sts.{region}.amazonaws.com"),
        };
        Ok(Sts {
            endpoint,
            region: region.to_string(),
        })
    }
}

/// Works out the credential chain's source (no network calls).
struct Resolver<'a> {
    settings: &'a Route53Settings,
    shared: &'a SharedFiles,
    sts: &'a Sts,
}

/// Profiles followed through `source_profile` at most.
const MAX_PROFILE_DEPTH: usize = 5;

impl Resolver<'_> {
    /// The chain, in the SDKs' order, after explicit keys: a named profile; web identity; the
    /// default profile; container credentials; instance metadata.
    fn chain(&self, profile_name: Option<&str>) -> Result<Source, ProviderError> {
        if let Some(name) = profile_name {
            return self.profile(name, 0)?.ok_or_else(|| {
                bad(format!(
                    "profile `{name}` has no credentials in {}",
                    self.searched()
                ))
            });
        }
        let amb = &self.settings.ambient;
        match (&amb.web_identity_token_file, nonempty(&amb.role_arn)) {
            (Some(file), Some(arn)) => {
                return Ok(Source::WebIdentity {
                    token_file: file.clone(),
                    role_arn: arn.to_string(),
                    session_name: session_name(amb),
                    sts: self.sts.clone(),
                    from: "AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN".to_string(),
                });
            }
            (Some(_), None) => {
                return Err(bad(
                    "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role to assume with the token",
                ));
            }
            _ => {}
        }
        if let Some(s) = self.profile("default", 0)? {
            return Ok(s);
        }
        if let Some(c) = self.container()? {
            return Ok(c);
        }
        if amb.imds_disabled != Some(true) {
            return Ok(Source::Imds {
                endpoint: match nonempty(&amb.imds_endpoint) {
                    Some(e) => endpoint("AWS_EC2_METADATA_SERVICE_ENDPOINT", e)?,
                    None => IMDS_ENDPOINT.to_string(),
                },
            });
        }
        Err(bad(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or access_key_id and \
             secret_access_key_file), a profile (AWS_PROFILE) in the shared files (searched: {}), web identity \
             (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN) or container credentials; instance metadata is off \
             (AWS_EC2_METADATA_DISABLED)",
            self.searched()
        )))
    }

    fn searched(&self) -> String {
        if self.shared.searched.is_empty() {
            "no shared files (HOME is not set)".to_string()
        } else {
            self.shared
                .searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Container credentials from `AWS_CONTAINER_CREDENTIALS_FULL_URI` / `_RELATIVE_URI`.
    fn container(&self) -> Result<Option<Source>, ProviderError> {
        let amb = &self.settings.ambient;
        let token = amb.container_token.clone().filter(|t| !t.is_empty());
        let token_file = amb.container_token_file.clone();
        if let Some(rel) = nonempty(&amb.container_relative_uri) {
            let rel = if rel.starts_with('/') {
                rel.to_string()
            } else {
                format!("/{rel}")
            };
            return Ok(Some(Source::Container {
                url: format!("{ECS_HOST}{rel}"),
                token,
                token_file,
                from: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            }));
        }
        let Some(full) = nonempty(&amb.container_full_uri) else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(full)
            .map_err(|e| bad(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI `{full}`: {e}")))?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let allowed = match (url.scheme(), host.parse::<std::net::IpAddr>()) {
            ("https", _) => !host.is_empty(),
            ("http", Ok(std::net::IpAddr::V4(ip))) => {
                ip.is_loopback()
                    || ip.octets() == [169, 254, 170, 2]
                    || ip.octets() == [169, 254, 170, 23]
            }
            ("http", Ok(std::net::IpAddr::V6(ip))) => {
                ip.is_loopback() || ip.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23]
            }
            ("http", Err(_)) => host.eq_ignore_ascii_case("localhost"),
            _ => false,
        };
        if !allowed {
            return Err(bad(format!(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI `{full}`: plain http is allowed to a loopback address or the \
                 ECS/EKS agents (169.254.170.2, 169.254.170.23) only; use https"
            )));
        }
        Ok(Some(Source::Container {
            url: full.to_string(),
            token,
            token_file,
            from: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        }))
    }

    /// The source a profile names; `None` when the profile does not exist or gives nothing.
    fn profile(&self, name: &str, depth: usize) -> Result<Option<Source>, ProviderError> {
        if depth > MAX_PROFILE_DEPTH {
            return Err(bad(format!(
                "profile `{name}`: source_profile chain longer than {MAX_PROFILE_DEPTH} (a loop?)"
            )));
        }
        let from_creds = self
            .shared
            .credentials
            .as_ref()
            .and_then(|(p, s)| profile::credentials_section(s, name).map(|sec| (p, sec)));
        let from_config = self
            .shared
            .config
            .as_ref()
            .and_then(|(p, s)| profile::config_section(s, name).map(|sec| (p, sec)));
        if from_creds.is_none() && from_config.is_none() {
            return Ok(None);
        }
        // The credentials file wins over the config file, key by key.
        let get = |k: &str| -> Option<(String, &PathBuf)> {
            from_creds
                .iter()
                .chain(from_config.iter())
                .find_map(|(p, sec)| {
                    sec.get(k)
                        .map(|v| v.trim())
                        .filter(|v| !v.is_empty())
                        .map(|v| (v.to_string(), *p))
                })
        };
        let val = |k: &str| get(k).map(|(v, _)| v);
        let label = |p: &PathBuf| format!("profile `{name}` in {}", p.display());

        let static_keys = || -> Result<Option<Source>, ProviderError> {
            match (get("aws_access_key_id"), val("aws_secret_access_key")) {
                (Some((id, path)), Some(secret)) => Ok(Some(Source::Static {
                    credentials: Credentials {
                        access_key_id: id,
                        secret_access_key: Secret::new(secret),
                        session_token: val("aws_session_token").map(Secret::new),
                    },
                    from: label(path),
                })),
                (Some((_, path)), None) => Err(bad(format!(
                    "{} needs both aws_access_key_id and aws_secret_access_key",
                    label(path)
                ))),
                (None, Some(_)) => Err(bad(format!(
                    "profile `{name}` needs both aws_access_key_id and aws_secret_access_key"
                ))),
                (None, None) => Ok(None),
            }
        };

        if let Some((role_arn, path)) = get("role_arn") {
            let amb = &self.settings.ambient;
            let session = val("role_session_name").unwrap_or_else(|| session_name(amb));
            let base = if let Some(src) = val("source_profile") {
                if src == name {
                    static_keys()?
                } else {
                    self.profile(&src, depth + 1)?
                }
                .ok_or_else(|| {
                    bad(format!(
                        "{}: source_profile `{src}` has no credentials in {}",
                        label(path),
                        self.searched()
                    ))
                })?
            } else if let Some(cs) = val("credential_source") {
                match cs.as_str() {
                    "Ec2InstanceMetadata" => Source::Imds {
                        endpoint: IMDS_ENDPOINT.to_string(),
                    },
                    "EcsContainer" => self.container()?.ok_or_else(|| {
                        bad(format!(
                            "{}: credential_source = EcsContainer, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI is not set",
                            label(path)
                        ))
                    })?,
                    other => {
                        return Err(bad(format!(
                            "{}: credential_source = {other}: wildcert knows Ec2InstanceMetadata and EcsContainer \
                             (Environment keys are used directly when set)",
                            label(path)
                        )));
                    }
                }
            } else if let Some(file) = val("web_identity_token_file") {
                return Ok(Some(Source::WebIdentity {
                    token_file: PathBuf::from(file),
                    role_arn,
                    session_name: session,
                    sts: self.sts.clone(),
                    from: label(path),
                }));
            } else {
                return Err(bad(format!(
                    "{} has role_arn but neither source_profile, credential_source nor web_identity_token_file",
                    label(path)
                )));
            };
            let duration_seconds = match val("duration_seconds") {
                None => None,
                Some(d) => Some(d.parse::<u32>().map_err(|_| {
                    bad(format!(
                        "{}: duration_seconds `{d}` is not a number",
                        label(path)
                    ))
                })?),
            };
            return Ok(Some(Source::AssumeRole {
                base: Box::new(base),
                role_arn,
                external_id: val("external_id"),
                session_name: session,
                duration_seconds,
                sts: self.sts.clone(),
                from: label(path),
            }));
        }
        if let Some(s) = static_keys()? {
            return Ok(Some(s));
        }
        if let Some((command, path)) = get("credential_process") {
            return Ok(Some(Source::Process {
                command,
                from: label(path),
            }));
        }
        if let Some((account_id, path)) = get("sso_account_id") {
            return self.sso(name, account_id, path).map(Some);
        }
        if let Some((_, path)) = get("sso_session").or_else(|| get("sso_start_url")) {
            return Err(bad(format!(
                "{} is an SSO profile without sso_account_id and sso_role_name (wildcert needs role credentials)",
                label(path)
            )));
        }
        Ok(None)
    }

    fn sso(&self, name: &str, account_id: String, path: &Path) -> Result<Source, ProviderError> {
        let label = format!("profile `{name}` in {}", path.display());
        let sec = |n: &str| {
            self.shared
                .config
                .as_ref()
                .and_then(|(_, s)| profile::config_section(s, n))
        };
        let get = |k: &str| {
            sec(name)
                .and_then(|s| s.get(k))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let role_name = get("sso_role_name")
            .ok_or_else(|| bad(format!("{label}: SSO profile without sso_role_name")))?;
        let (key, region) = match get("sso_session") {
            Some(session) => {
                let s = self
                    .shared
                    .config
                    .as_ref()
                    .and_then(|(_, s)| s.get(&format!("sso-session {session}")))
                    .ok_or_else(|| bad(format!("{label}: no [sso-session {session}] section")))?;
                let region = s
                    .get("sso_region")
                    .cloned()
                    .ok_or_else(|| bad(format!("[sso-session {session}] has no sso_region")))?;
                (session, region)
            }
            None => {
                let url = get("sso_start_url").ok_or_else(|| {
                    bad(format!(
                        "{label}: SSO profile without sso_session or sso_start_url"
                    ))
                })?;
                let region = get("sso_region")
                    .ok_or_else(|| bad(format!("{label}: SSO profile without sso_region")))?;
                (url, region)
            }
        };
        let home = self.settings.home.as_ref().ok_or_else(|| {
            bad(format!(
                "{label}: the SSO token cache is under ~/.aws/sso/cache, but HOME is not set"
            ))
        })?;
        let portal = match nonempty(&self.settings.ambient.sso_endpoint) {
            Some(u) => endpoint("AWS_ENDPOINT_URL_SSO", u)?,
            None => format!("https://portal.sso.{}.amazonaws.com", region.trim()),
        };
        Ok(Source::Sso {
            cache_file: sso_cache_file(home, &key),
            portal,
            account_id,
            role_name,
            profile: name.to_string(),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct Route53Config {
    /// Where credentials come from (secret parts print as `***`).
    pub source: Source,
    /// Where the credentials come from, one line, for messages.
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
    /// Bound on waiting out throttling, for the whole run.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::LayeredSettings;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn env_over_file_and_secrets_hidden() {
        let file = wildcert_provider::spec::object(serde_json::json!({
            "kind": "route53", "access_key_id": "AKIAFILE", "secret_access_key": "file-secret",
            "hosted_zone_id": "/hostedzone/Z1FILE", "private_zone": true
        }));
        let envs = env(&[
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_ROUTE_53", "http://127.0.0.1:2/r53"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_SESSION_TOKEN", "tok"),
        ]);
        let merged = Route53Settings::SPEC
            .layer(Some(&file), None, &envs)
            .and_then(|l| Route53Settings::from_layered(&l))
            .expect("layers");
        let cfg = merged.validate().expect("valid");
        assert_eq!(
            cfg.source
                .static_credentials()
                .expect("static keys")
                .access_key_id,
            "AKIAFILE"
        );
        assert_eq!(
            cfg.source
                .static_credentials()
                .expect("static keys")
                .secret_access_key
                .expose(),
            "env-secret"
        );
        assert_eq!(
            cfg.source
                .static_credentials()
                .expect("static keys")
                .session_token
                .as_ref()
                .map(Secret::expose),
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
        assert_eq!(
            d.source
                .static_credentials()
                .expect("static keys")
                .access_key_id,
            "AKIADEF"
        );
        assert_eq!(d.region, "cn-north-1");
        assert_eq!(d.signing_region, "cn-northwest-1");
        assert_eq!(d.endpoint.as_str(), "https://route53.amazonaws.com.cn/");
        let w = load(&[("AWS_PROFILE", "work")]).expect("work");
        assert_eq!(
            w.source
                .static_credentials()
                .expect("static keys")
                .session_token
                .as_ref()
                .map(Secret::expose),
            Some("work-token")
        );
        assert_eq!(w.region, "eu-central-1");
        assert!(w.credentials_source.contains("profile `work`"));
        let c = load(&[("AWS_PROFILE", "cfgonly")]).expect("config file keys");
        assert_eq!(
            c.source
                .static_credentials()
                .expect("static keys")
                .access_key_id,
            "AKIACFG"
        );
        let e = load(&[("AWS_PROFILE", "sso")]).expect_err("sso");
        assert!(e.to_string().contains("sso_account_id"), "{e}");
        let e = load(&[("AWS_PROFILE", "nope")]).expect_err("missing");
        assert!(e.to_string().contains("profile `nope`"), "{e}");
        // Explicit keys beat the profile.
        let x = load(&[
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ])
        .expect("env keys");
        assert_eq!(
            x.source
                .static_credentials()
                .expect("static keys")
                .access_key_id,
            "AKIAENV"
        );
        // A named file must exist.
        let e = load(&[("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds")])
            .expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/creds"), "{e}");
    }

    #[test]
    fn missing_credentials_and_bad_values() {
        // Nothing given: the chain ends at the instance metadata service…
        let imds = Route53Settings::default().validate().expect("imds");
        assert!(
            matches!(imds.source, Source::Imds { .. }),
            "{:?}",
            imds.source
        );
        // …unless that is switched off.
        let e = Route53Settings::from_env_map(&env(&[("AWS_EC2_METADATA_DISABLED", "true")]))
            .expect("env")
            .validate()
            .expect_err("no creds");
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

    #[test]
    fn chain_order_and_sources_without_network() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().to_string_lossy().to_string();
        let load = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("HOME", home.as_str())];
            pairs.extend_from_slice(extra);
            Route53Settings::from_env_map(&env(&pairs))
                .expect("env")
                .validate()
        };
        let src = |extra: &[(&str, &str)]| load(extra).expect("valid").credentials_source;
        // Container: RELATIVE_URI goes to the ECS agent; FULL_URI over http only to loopback.
        let c = load(&[(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/x",
        )])
        .expect("ecs");
        assert!(
            matches!(&c.source, Source::Container { url, .. } if url == "http://169.254.170.2/v2/credentials/x"),
            "{:?}",
            c.source
        );
        assert!(
            load(&[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.0.0.1/creds"
            )])
            .is_err()
        );
        assert!(
            load(&[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials"
            )])
            .is_ok()
        );
        assert!(
            load(&[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "https://creds.example/x"
            )])
            .is_ok()
        );
        // Web identity beats the container; a token without a role is an error.
        let w = src(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/x"),
        ]);
        assert!(w.starts_with("web identity"), "{w}");
        assert!(load(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")]).is_err());
        // Environment keys beat everything; lego's role wraps whatever was found.
        let e = src(&[
            ("AWS_ACCESS_KEY_ID", "AKIA1"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ]);
        assert!(e.starts_with("settings/environment"), "{e}");
        let l = src(&[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/x"),
            ("AWS_ASSUME_ROLE_ARN", "arn:aws:iam::1:role/lego"),
        ]);
        assert!(
            l.contains("role arn:aws:iam::1:role/lego assumed (AWS_ASSUME_ROLE_ARN) with container credentials"),
            "{l}"
        );
        // Instance metadata last, at the given endpoint; STS follows AWS_ENDPOINT_URL_STS.
        let i = load(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:8"),
            ("AWS_ASSUME_ROLE_ARN", "arn:aws:iam::1:role/x"),
        ])
        .expect("imds");
        match &i.source {
            Source::AssumeRole { base, sts, .. } => {
                assert_eq!(sts.endpoint, "http://127.0.0.1:8");
                assert!(
                    matches!(&**base, Source::Imds { endpoint } if endpoint == "http://127.0.0.1:9")
                );
            }
            other => panic!("{other:?}"),
        }
        // Profiles: role_arn with credential_source, a source_profile loop.
        let aws = dir.path().join(".aws");
        std::fs::create_dir_all(&aws).expect("mkdir");
        std::fs::write(
            aws.join("config"),
            "[profile ec2]\nrole_arn = arn:aws:iam::1:role/e\ncredential_source = Ec2InstanceMetadata\n\
             [profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n\
             [profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n",
        )
        .expect("write");
        let p = src(&[("AWS_PROFILE", "ec2")]);
        assert!(p.contains("with EC2 instance metadata"), "{p}");
        let e = load(&[("AWS_PROFILE", "a")]).expect_err("loop");
        assert!(e.to_string().contains("loop"), "{e}");
    }
}
