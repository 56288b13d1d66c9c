//! The AWS credential chain, natively (no AWS SDK): where credentials come from
//! ([`Source`], decided from settings, environment and the shared files without any network
//! call) and how they are fetched and kept fresh ([`CredentialCache`]).
//!
//! Sources, as the AWS SDKs define them: static keys; web identity (STS
//! `AssumeRoleWithWebIdentity`, unsigned); STS `AssumeRole` on top of other credentials
//! (profiles with `role_arn`, lego's `AWS_ASSUME_ROLE_ARN`); `credential_process`; SSO
//! (a cached token under `~/.aws/sso/cache`, exchanged at the portal's `GetRoleCredentials`);
//! container credentials (ECS, EKS Pod Identity); EC2 instance metadata (IMDSv2 only).
//!
//! Temporary credentials are fetched again [`REFRESH_BEFORE`] before they expire.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ring::digest;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wildcert_provider::http::{self, RateLimitBudget, RetryPolicy};
use wildcert_provider::{ProviderError, Secret};

use crate::settings::KIND;
use crate::sigv4::{self, Credentials};
use crate::xml;

/// Temporary credentials are fetched again this long before they expire (the SDKs' window).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// Bound on one request to STS, the SSO portal or a container endpoint.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one request to the instance metadata service (answers in milliseconds on EC2).
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on a `credential_process` run.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a run may wait out rate limits of credential endpoints (429, STS throttling).
const FETCH_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);
/// Largest answer read from any credential endpoint or process.
const MAX_ANSWER: usize = 256 * 1024;
/// The default instance metadata endpoint.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The ECS agent's address for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_HOST: &str = "http://169.254.170.2";

/// An STS endpoint and the region its requests are signed for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sts {
    /// Endpoint URL (no trailing slash).
    pub endpoint: String,
    /// Signing region.
    pub region: String,
}

/// Where credentials come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Keys given in settings, the environment or a profile.
    Static {
        /// The keys.
        credentials: Credentials,
        /// Where they were found.
        from: String,
    },
    /// STS `AssumeRoleWithWebIdentity` with the token in a file (EKS IRSA, GitHub OIDC).
    WebIdentity {
        /// The token file, read at every fetch (it is rotated).
        token_file: PathBuf,
        /// The role.
        role_arn: String,
        /// Session name.
        session_name: String,
        /// STS.
        sts: Sts,
        /// Where the setting came from.
        from: String,
    },
    /// STS `AssumeRole` signed with the credentials of `base`.
    AssumeRole {
        /// The credentials that assume the role.
        base: Box<Source>,
        /// The role.
        role_arn: String,
        /// `ExternalId`, when the role's trust policy wants one.
        external_id: Option<String>,
        /// Session name.
        session_name: String,
        /// `DurationSeconds`.
        duration_seconds: Option<u32>,
        /// STS.
        sts: Sts,
        /// Where the setting came from.
        from: String,
    },
    /// A `credential_process` command run through `sh -c`.
    Process {
        /// The command line.
        command: String,
        /// The profile naming it.
        from: String,
    },
    /// SSO: the cached token of `aws sso login`, exchanged at the portal.
    Sso {
        /// The token cache file.
        cache_file: PathBuf,
        /// The portal endpoint (no trailing slash).
        portal: String,
        /// `sso_account_id`.
        account_id: String,
        /// `sso_role_name`.
        role_name: String,
        /// The profile.
        profile: String,
    },
    /// The container credentials endpoint (ECS task role, EKS Pod Identity).
    Container {
        /// Full URL.
        url: String,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
        token: Option<Secret>,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (wins over the token; read at every fetch).
        token_file: Option<PathBuf>,
        /// Which variable named the endpoint.
        from: &'static str,
    },
    /// The EC2 instance metadata service, IMDSv2.
    Imds {
        /// Endpoint (no trailing slash).
        endpoint: String,
    },
}

impl Source {
    /// One line saying where credentials come from (never a secret value).
    pub fn describe(&self) -> String {
        match self {
            Source::Static { from, .. } => from.clone(),
            Source::WebIdentity { from, .. } => format!("web identity ({from})"),
            Source::AssumeRole {
                base,
                role_arn,
                from,
                ..
            } => format!("role {role_arn} assumed ({from}) with {}", base.describe()),
            Source::Process { from, .. } => format!("credential_process of {from}"),
            Source::Sso { profile, .. } => format!("SSO (profile `{profile}`)"),
            Source::Container { from, .. } => format!("container credentials ({from})"),
            Source::Imds { endpoint } => format!("EC2 instance metadata (IMDSv2 at {endpoint})"),
        }
    }

    /// The static keys, when that is what this source is.
    pub fn static_credentials(&self) -> Option<&Credentials> {
        match self {
            Source::Static { credentials, .. } => Some(credentials),
            _ => None,
        }
    }
}

/// Credentials and when they stop working.
#[derive(Clone, Debug)]
pub struct Timed {
    /// The credentials.
    pub credentials: Credentials,
    /// Expiry of temporary credentials.
    pub expires: Option<OffsetDateTime>,
}

impl Timed {
    fn fresh(&self, now: OffsetDateTime) -> bool {
        self.expires.is_none_or(|e| e - now > REFRESH_BEFORE)
    }

    fn usable(&self, now: OffsetDateTime) -> bool {
        self.expires
            .is_none_or(|e| e - now > time::Duration::seconds(15))
    }
}

/// Fetches credentials from a [`Source`] and keeps them until shortly before they expire.
#[derive(Debug)]
pub struct CredentialCache {
    source: Source,
    http: reqwest::Client,
    current: Mutex<Option<Timed>>,
    fetching: tokio::sync::Mutex<()>,
}

fn auth_error(message: String) -> ProviderError {
    ProviderError::Auth {
        provider: KIND,
        message,
    }
}

impl CredentialCache {
    /// A cache over `source` (static keys are there at once).
    pub fn new(source: Source) -> Result<Self, ProviderError> {
        let http = http::client(KIND, FETCH_TIMEOUT)?;
        let current = source.static_credentials().map(|c| Timed {
            credentials: c.clone(),
            expires: None,
        });
        Ok(CredentialCache {
            source,
            http,
            current: Mutex::new(current),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The access key id last fetched, for messages (`?` before the first fetch).
    pub fn access_key_id(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or_else(|| "?".to_string(), |t| t.credentials.access_key_id.clone())
    }

    /// Forget the current credentials (the server said they expired).
    pub fn invalidate(&self) {
        if self.source.static_credentials().is_none() {
            *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    fn cached(&self, fresh: bool) -> Option<Credentials> {
        let now = OffsetDateTime::now_utc();
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|t| if fresh { t.fresh(now) } else { t.usable(now) })
            .map(|t| t.credentials.clone())
    }

    /// Credentials good for a request: cached while fresh, else fetched (one fetch at a time).
    /// When a refresh fails while the old ones still work, the old ones are used.
    pub async fn get(&self) -> Result<Credentials, ProviderError> {
        if let Some(c) = self.cached(true) {
            return Ok(c);
        }
        let _one = self.fetching.lock().await;
        if let Some(c) = self.cached(true) {
            return Ok(c);
        }
        match fetch(&self.http, &self.source).await {
            Ok(t) => {
                tracing::debug!(source = %self.source.describe(), access_key_id = %t.credentials.access_key_id,
                    expires = ?t.expires, "route53: credentials fetched");
                let c = t.credentials.clone();
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
                Ok(c)
            }
            Err(e) => match self.cached(false) {
                Some(c) => {
                    tracing::warn!(
                        "route53: refreshing credentials failed ({e}); the current ones are still valid"
                    );
                    Ok(c)
                }
                None => Err(e),
            },
        }
    }
}

/// Fetch once from `source`.
fn fetch<'a>(
    http: &'a reqwest::Client,
    source: &'a Source,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Timed, ProviderError>> + Send + 'a>> {
    Box::pin(async move {
        let what = source.describe();
        let r = match source {
            Source::Static { credentials, .. } => Ok(Timed {
                credentials: credentials.clone(),
                expires: None,
            }),
            Source::WebIdentity {
                token_file,
                role_arn,
                session_name,
                sts,
                ..
            } => web_identity(http, token_file, role_arn, session_name, sts).await,
            Source::AssumeRole {
                base,
                role_arn,
                external_id,
                session_name,
                duration_seconds,
                sts,
                ..
            } => {
                let base = fetch(http, base).await?;
                assume_role(
                    http,
                    &base.credentials,
                    role_arn,
                    external_id.as_deref(),
                    session_name,
                    *duration_seconds,
                    sts,
                )
                .await
            }
            Source::Process { command, .. } => process(command).await,
            Source::Sso {
                cache_file,
                portal,
                account_id,
                role_name,
                profile,
            } => sso(http, cache_file, portal, account_id, role_name, profile).await,
            Source::Container {
                url,
                token,
                token_file,
                ..
            } => container(http, url, token.as_ref(), token_file.as_ref()).await,
            Source::Imds { endpoint } => imds(endpoint).await,
        };
        r.map_err(|e| match e {
            Fetch::Provider(p) => p,
            Fetch::Text(m) => auth_error(format!("cannot get AWS credentials from {what}: {m}")),
        })
    })
}

/// A fetch failure: a message (given context by [`fetch`]) or a finished error.
enum Fetch {
    Text(String),
    Provider(ProviderError),
}

impl From<String> for Fetch {
    fn from(s: String) -> Self {
        Fetch::Text(s)
    }
}

impl From<ProviderError> for Fetch {
    fn from(e: ProviderError) -> Self {
        Fetch::Provider(e)
    }
}

type FetchResult = Result<Timed, Fetch>;

/// The retry policy of credential endpoints: 3 attempts within 20 s on 5xx, 429, STS
/// throttling and transport errors (IMDS: transport errors not retried, see [`imds`]),
/// backoff from 0.2 s to 2 s, answers of at most [`MAX_ANSWER`] bytes.
fn fetch_policy(transport_attempts: u32) -> RetryPolicy {
    let mut p = RetryPolicy::new(
        KIND,
        RateLimitBudget::new(
            FETCH_RATE_LIMIT_WAIT,
            "the credential endpoints' rate-limit budget",
        ),
    );
    p.max_attempts = 3;
    p.max_transport_attempts = transport_attempts;
    p.max_rate_limited = 3;
    p.max_total = Duration::from_secs(20);
    p.base = Duration::from_millis(200);
    p.cap = Duration::from_secs(2);
    p.body_limit = MAX_ANSWER;
    p
}

/// Send a request through the shared retry policy; the status and body (bounded).
async fn send(req: reqwest::RequestBuilder, target: &str) -> Result<(u16, String), String> {
    send_with(&fetch_policy(3), req, target).await
}

async fn send_with(
    policy: &RetryPolicy,
    req: reqwest::RequestBuilder,
    target: &str,
) -> Result<(u16, String), String> {
    match policy.send_builder(target, req, xml::verdict).await {
        Ok(r) => Ok((r.status, r.text())),
        Err(ProviderError::Unreachable { message, .. }) => {
            Err(format!("{target} did not answer: {message}"))
        }
        Err(ProviderError::RateLimited { .. }) => {
            Err(format!("{target} is still rate limiting us after retries"))
        }
        Err(ProviderError::Other { message, .. }) => Err(message),
        Err(e) => Err(e.to_string()),
    }
}

/// The text of the first `<tag>` element (entities resolved).
fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    quick_xml::escape::unescape(&xml[start..end])
        .ok()
        .map(|s| s.trim().to_string())
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let s = s
        .strip_suffix("UTC")
        .map_or(s.to_string(), |p| format!("{p}Z"));
    OffsetDateTime::parse(&s, &Rfc3339).ok()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                sigv4::uri_encode(k, false),
                sigv4::uri_encode(v, false)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The credentials of an STS answer (`AssumeRole`, `AssumeRoleWithWebIdentity`), or its error.
fn sts_answer(action: &str, status: u16, body: &str) -> FetchResult {
    if !(200..300).contains(&status) {
        let code = xml_tag(body, "Code").unwrap_or_default();
        let message = xml_tag(body, "Message").unwrap_or_default();
        let said = match (code.is_empty(), message.is_empty()) {
            (true, _) => format!("HTTP {status}"),
            (false, true) => format!("{code} (HTTP {status})"),
            (false, false) => format!("{code}: {message}"),
        };
        return Err(Fetch::Text(format!("STS {action} refused: {said}")));
    }
    let get = |t: &str| xml_tag(body, t).filter(|v| !v.is_empty());
    match (
        get("AccessKeyId"),
        get("SecretAccessKey"),
        get("SessionToken"),
    ) {
        (Some(id), Some(secret), Some(token)) => Ok(Timed {
            credentials: Credentials {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: Some(Secret::new(token)),
            },
            expires: get("Expiration").and_then(|e| parse_time(&e)),
        }),
        _ => Err(Fetch::Text(format!(
            "STS {action} answered without credentials"
        ))),
    }
}

async fn web_identity(
    http: &reqwest::Client,
    token_file: &std::path::Path,
    role_arn: &str,
    session_name: &str,
    sts: &Sts,
) -> FetchResult {
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| format!("cannot read the token file {}: {e}", token_file.display()))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(Fetch::Text(format!(
            "the token file {} is empty",
            token_file.display()
        )));
    }
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session_name),
        ("WebIdentityToken", token),
    ]);
    let req = http
        .post(format!("{}/", sts.endpoint))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body);
    let (status, text) = send(req, &format!("STS at {}", sts.endpoint)).await?;
    // The token is a credential: never echo it.
    sts_answer(
        "AssumeRoleWithWebIdentity",
        status,
        &text.replace(token, "***"),
    )
}

async fn assume_role(
    http: &reqwest::Client,
    base: &Credentials,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
    duration_seconds: Option<u32>,
    sts: &Sts,
) -> FetchResult {
    let duration = duration_seconds.map(|d| d.to_string());
    let mut pairs = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session_name),
    ];
    if let Some(x) = external_id {
        pairs.push(("ExternalId", x));
    }
    if let Some(d) = duration.as_deref() {
        pairs.push(("DurationSeconds", d));
    }
    let body = form(&pairs);
    let url = reqwest::Url::parse(&format!("{}/", sts.endpoint))
        .map_err(|e| format!("STS endpoint `{}`: {e}", sts.endpoint))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(Fetch::Text(format!("STS endpoint `{url}` has no host"))),
    };
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("host".to_string(), host),
    ];
    let signed = sigv4::sign(
        &sigv4::Request {
            method: "POST",
            path: url.path(),
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        },
        base,
        &sts.region,
        "sts",
        &sigv4::amz_date(OffsetDateTime::now_utc()),
    );
    let mut req = http.post(url.clone()).body(body);
    for (k, v) in headers.iter().chain(&signed) {
        req = req.header(k.as_str(), v.as_str());
    }
    let (status, text) = send(req, &format!("STS at {}", sts.endpoint)).await?;
    // STS echoes nothing secret in its errors, but be sure.
    let mut text = text;
    for s in [Some(&base.secret_access_key), base.session_token.as_ref()]
        .into_iter()
        .flatten()
    {
        if !s.is_empty() {
            text = text.replace(s.expose(), "***");
        }
    }
    sts_answer("AssumeRole", status, &text).map_err(|e| match e {
        Fetch::Text(m) => Fetch::Text(format!(
            "{m} (signed with access key id `{}`)",
            base.access_key_id
        )),
        other => other,
    })
}

/// The JSON of `credential_process`, container endpoints and IMDS (field names differ a little).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_access_key: Option<Secret>,
    #[serde(default)]
    session_token: Option<Secret>,
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default)]
    expiration: Option<String>,
}

fn json_credentials(what: &str, text: &str) -> FetchResult {
    let j: JsonCredentials = serde_json::from_str(text.trim())
        .map_err(|e| format!("{what} did not give credentials as JSON: {e}"))?;
    if let Some(code) = j.code.as_deref().filter(|c| *c != "Success") {
        return Err(Fetch::Text(format!(
            "{what} answered {code}: {}",
            j.message.unwrap_or_default()
        )));
    }
    if let Some(v) = j.version.filter(|v| *v != 1) {
        return Err(Fetch::Text(format!(
            "{what} gave Version {v}; only Version 1 is known"
        )));
    }
    let (Some(id), Some(secret)) = (
        j.access_key_id.filter(|s| !s.is_empty()),
        j.secret_access_key.filter(|s| !s.is_empty()),
    ) else {
        return Err(Fetch::Text(format!(
            "{what} gave no AccessKeyId and SecretAccessKey"
        )));
    };
    let expires = match j.expiration.as_deref().filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => Some(
            parse_time(e).ok_or_else(|| format!("{what} gave an unreadable Expiration `{e}`"))?,
        ),
    };
    Ok(Timed {
        credentials: Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: j.session_token.or(j.token).filter(|t| !t.is_empty()),
        },
        expires,
    })
}

async fn process(command: &str) -> FetchResult {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    let out = tokio::time::timeout(PROCESS_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "`{command}` did not finish in {} s",
                PROCESS_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("running `{command}`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: String = err.split_whitespace().collect::<Vec<_>>().join(" ");
        let err: String = err.chars().take(300).collect();
        return Err(Fetch::Text(format!(
            "`{command}` failed ({}): {err}",
            out.status
        )));
    }
    if out.stdout.len() > MAX_ANSWER {
        return Err(Fetch::Text(format!("`{command}` printed too much")));
    }
    json_credentials(
        &format!("`{command}`"),
        &String::from_utf8_lossy(&out.stdout),
    )
}

/// The SSO token cache file of a session name (`sso_session`) or, for legacy profiles, of the
/// start URL: `~/.aws/sso/cache/<sha1 hex>.json`.
pub fn sso_cache_file(home: &std::path::Path, key: &str) -> PathBuf {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    home.join(".aws")
        .join("sso")
        .join("cache")
        .join(format!("{}.json", sigv4::hex(d.as_ref())))
}

async fn sso(
    http: &reqwest::Client,
    cache_file: &std::path::Path,
    portal: &str,
    account_id: &str,
    role_name: &str,
    profile: &str,
) -> FetchResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Cached {
        access_token: Option<Secret>,
        expires_at: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RoleCredentials {
        access_key_id: Option<String>,
        secret_access_key: Option<Secret>,
        session_token: Option<Secret>,
        expiration: Option<i64>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        role_credentials: Option<RoleCredentials>,
    }
    let login = format!("run `aws sso login --profile {profile}`");
    let text = std::fs::read_to_string(cache_file)
        .map_err(|e| format!("no SSO token in {} ({e}); {login}", cache_file.display()))?;
    let cached: Cached = serde_json::from_str(&text).map_err(|e| {
        format!(
            "the SSO token cache {} is unreadable: {e}",
            cache_file.display()
        )
    })?;
    let Some(token) = cached.access_token.filter(|t| !t.is_empty()) else {
        return Err(Fetch::Text(format!(
            "the SSO token cache {} holds no accessToken; {login}",
            cache_file.display()
        )));
    };
    if let Some(exp) = cached.expires_at.as_deref().and_then(parse_time)
        && exp <= OffsetDateTime::now_utc()
    {
        return Err(Fetch::Text(format!(
            "the SSO token expired at {exp}; {login}"
        )));
    }
    let req = http
        .get(format!("{portal}/federation/credentials"))
        .query(&[("account_id", account_id), ("role_name", role_name)])
        .header("x-amz-sso_bearer_token", token.expose());
    let (status, body) = send(req, &format!("the SSO portal at {portal}")).await?;
    if status == 401 || status == 403 {
        return Err(Fetch::Text(format!(
            "the SSO portal refused the cached token (HTTP {status}); {login}"
        )));
    }
    if !(200..300).contains(&status) {
        let b: String = body.chars().take(300).collect();
        return Err(Fetch::Text(format!(
            "the SSO portal answered HTTP {status}: {b}"
        )));
    }
    let a: Answer = serde_json::from_str(&body)
        .map_err(|e| format!("the SSO portal answered something else than credentials: {e}"))?;
    let rc = a
        .role_credentials
        .ok_or("the SSO portal gave no roleCredentials")?;
    let (Some(id), Some(secret)) = (rc.access_key_id, rc.secret_access_key) else {
        return Err(Fetch::Text(
            "the SSO portal gave no accessKeyId/secretAccessKey".into(),
        ));
    };
    Ok(Timed {
        credentials: Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: rc.session_token,
        },
        expires: rc
            .expiration
            .and_then(|ms| OffsetDateTime::from_unix_timestamp(ms / 1000).ok()),
    })
}

impl From<&str> for Fetch {
    fn from(s: &str) -> Self {
        Fetch::Text(s.to_string())
    }
}

async fn container(
    http: &reqwest::Client,
    url: &str,
    token: Option<&Secret>,
    token_file: Option<&PathBuf>,
) -> FetchResult {
    let auth = match token_file {
        Some(f) => Some(Secret::new(
            std::fs::read_to_string(f)
                .map_err(|e| {
                    format!(
                        "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                        f.display()
                    )
                })?
                .trim(),
        )),
        None => token.cloned(),
    };
    let mut req = http.get(url);
    if let Some(a) = &auth {
        req = req.header("authorization", a.expose());
    }
    let (status, body) = send(req, url).await?;
    if !(200..300).contains(&status) {
        let b: String = body.chars().take(300).collect();
        return Err(Fetch::Text(format!("{url} answered HTTP {status}: {b}")));
    }
    json_credentials(url, &body)
}

async fn imds(endpoint: &str) -> FetchResult {
    let http = http::ClientBuilder::new(KIND, IMDS_TIMEOUT)
        .no_proxy()
        .build()?;
    // Off EC2 nothing answers at the link-local address: one try, not three timeouts.
    let policy = fetch_policy(1);
    let hint = "not on EC2? give credentials another way, or set AWS_EC2_METADATA_DISABLED=true";
    let (status, token) = send_with(
        &policy,
        http.put(format!("{endpoint}/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
        &format!("the instance metadata service at {endpoint}"),
    )
    .await
    .map_err(|e| format!("{e} ({hint})"))?;
    if status != 200 || token.trim().is_empty() {
        return Err(Fetch::Text(format!(
            "the IMDSv2 token request (PUT /latest/api/token) answered HTTP {status}; \
             is the hop limit too low (containers need 2)? {hint}"
        )));
    }
    let token = Secret::new(token.trim());
    let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
    let (status, roles) = send_with(
        &policy,
        http.get(&base)
            .header("x-aws-ec2-metadata-token", token.expose()),
        &base,
    )
    .await?;
    if status == 404 {
        return Err(Fetch::Text(
            "this instance has no IAM role (attach an instance profile)".into(),
        ));
    }
    if status != 200 {
        return Err(Fetch::Text(format!("{base} answered HTTP {status}")));
    }
    let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(Fetch::Text(
            "this instance has no IAM role (attach an instance profile)".into(),
        ));
    };
    let url = format!("{base}{role}");
    let (status, body) = send_with(
        &policy,
        http.get(&url)
            .header("x-aws-ec2-metadata-token", token.expose()),
        &url,
    )
    .await?;
    if status != 200 {
        return Err(Fetch::Text(format!("{url} answered HTTP {status}")));
    }
    json_credentials(&format!("instance role `{role}`"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_answers() {
        let ok = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId>\
                  <SecretAccessKey>s&amp;1</SecretAccessKey><SessionToken>t</SessionToken>\
                  <Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let Ok(t) = sts_answer("AssumeRole", 200, ok) else {
            panic!("credentials")
        };
        assert_eq!(t.credentials.access_key_id, "ASIA1");
        assert_eq!(t.credentials.secret_access_key.expose(), "s&1");
        assert_eq!(t.expires.map(|e| e.year()), Some(2030));
        let err = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>";
        match sts_answer("AssumeRole", 403, err) {
            Err(Fetch::Text(m)) => assert!(m.contains("AccessDenied: no"), "{m}"),
            _ => panic!("an error"),
        }
        let j = r#"{"Code":"Success","AccessKeyId":"ASIA2","SecretAccessKey":"x","Token":"tok","Expiration":"2030-01-01T00:00:00Z"}"#;
        let Ok(t) = json_credentials("imds", j) else {
            panic!("json")
        };
        assert_eq!(
            t.credentials.session_token.as_ref().map(Secret::expose),
            Some("tok")
        );
        assert!(parse_time("2030-01-01T00:00:00UTC").is_some());
        assert!(
            json_credentials(
                "p",
                r#"{"Version":2,"AccessKeyId":"a","SecretAccessKey":"b"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn sso_cache_name_is_sha1_of_the_session() {
        // The AWS CLI's file name for sso_session `my-sso` (sha1 hex of the name).
        assert_eq!(
            sso_cache_file(std::path::Path::new("/h"), "my-sso"),
            PathBuf::from("/h/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json")
        );
    }
}
