//! Amazon Route 53 provider: SigV4-signed calls to the Route53 API (version 2013-04-01), no
//! AWS SDK.
//!
//! Per zone, `publish` reads each name's TXT RRset (`ListResourceRecordSets`, UPSERT replaces a
//! whole RRset), then sends **one** `ChangeResourceRecordSets` batch with an UPSERT per name
//! carrying the union of the values already there and ours; `wait_applied` polls `GetChange`
//! until `INSYNC`. `unpublish` UPSERTs what remains at each name, or DELETEs the RRset (with its
//! exact values and TTL) when only our values were left. Throttling is retried by the shared
//! policy of [`wildcert_provider::http`] (jittered, bounded in count and time, a run-wide budget).

pub mod chain;
pub mod config;
#[cfg(feature = "fake")]
#[path = "../tests/fake/mod.rs"]
pub mod fake;
pub mod profile;
pub mod settings;
pub mod sigv4;
pub mod xml;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use wildcert_provider::http::{self, RateLimitBudget, RetryPolicy};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_provider::{LayeredSettings, Registration, ZoneCache, ZoneLocks};

pub use chain::{CredentialCache, Source};
pub use config::Route53Config;
pub use settings::{DEFAULT_RATE_LIMIT_WAIT, KIND, Route53Settings};
pub use sigv4::Credentials;
pub use xml::verdict;

use xml::{Action, ApiError, Change};

/// API version prefix of every path.
const API: &str = "/2013-04-01";
/// Largest response body we read.
const MAX_BODY: usize = 1 << 20;
/// First and largest delay between retries of a throttled request.
const RETRY_BASE: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(10);
/// Retries of a request that got no answer at all (connection refused, timeout).
const TRANSPORT_RETRIES: u32 = 2;
/// `GetChange` polling: first delay, growth, largest delay.
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_CAP: Duration = Duration::from_secs(5);
/// Zones asked for at once in `ListHostedZonesByName` (public and private zones may share a name).
const ZONES_PER_PAGE: u32 = 10;

/// The route53 provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: Route53Settings::SPEC,
    build: |layered, ctx| {
        let mut settings = Route53Settings::from_layered(layered)?;
        settings.read_env_only(ctx.env)?;
        Ok(Arc::new(Route53Provider::new(&settings)?))
    },
};

/// The Route53 provider.
#[derive(Debug)]
pub struct Route53Provider {
    config: Route53Config,
    http: reqwest::Client,
    policy: RetryPolicy,
    zones: ZoneCache,
    pace: Pace,
    creds: CredentialCache,
    /// One read-modify-write per zone at a time inside this instance.
    locks: ZoneLocks,
}

/// Route53's limits per `ChangeBatch`: 1,000 `ResourceRecord` elements and 32,000 characters
/// of values (an UPSERT counts twice).
const BATCH_RECORDS: usize = 1000;
/// See [`BATCH_RECORDS`].
const BATCH_CHARS: usize = 32_000;
/// Attempts of one cleanup when another writer changed an RRset between our read and our
/// exact DELETE.
const SWAP_ATTEMPTS: u32 = 6;

/// An existing TXT RRset.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RrSet {
    ttl: u32,
    /// `SetIdentifier` of a routed (weighted, latency, failover, …) record set.
    set_identifier: Option<String>,
    /// Values in presentation form, exactly as Route53 returned them.
    values: Vec<String>,
}

/// What an error answer (after the policy's retries) means.
enum Attempt {
    Fail(ProviderError),
    /// The credentials expired: fetch fresh ones and try once more.
    Refresh(ProviderError),
}

impl Route53Provider {
    /// Build from settings (reads secret and shared credential files).
    pub fn new(settings: &Route53Settings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: Route53Config) -> Result<Self, ProviderError> {
        let http = http::client(KIND, config.request_timeout)?;
        let policy = policy(
            &config,
            RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait"),
        );
        tracing::debug!(endpoint = %config.endpoint, credentials = %config.credentials_source,
            "route53 provider ready");
        let creds = CredentialCache::new(config.source.clone())?;
        Ok(Route53Provider {
            config,
            http,
            policy,
            zones: ZoneCache::default(),
            pace: Pace::new(),
            creds,
            locks: ZoneLocks::default(),
        })
    }

    /// Wait out throttling from `budget` (shared with every holder of a clone) instead of
    /// this provider's own [`DEFAULT_RATE_LIMIT_WAIT`].
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.policy.budget = budget;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Route53Config {
        &self.config
    }

    /// Fetch credentials now (as the first request would) and say where they came from; for
    /// `wildcert check`. Never returns a secret.
    pub async fn check_credentials(&self) -> Result<String, ProviderError> {
        let c = self.creds.get().await?;
        Ok(format!(
            "{} (access key id {})",
            self.config.credentials_source, c.access_key_id
        ))
    }

    fn host_header(&self) -> String {
        let url = &self.config.endpoint;
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// One signed request through the shared retry policy (throttling, 429, 5xx and
    /// `PriorRequestNotComplete` retried within bounds); returns the response body. Expired
    /// fetched credentials are fetched again once.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
        ctx: &Ctx<'_>,
    ) -> Result<String, ProviderError> {
        let mut refreshed = false;
        loop {
            let used: std::sync::Mutex<Option<Credentials>> = std::sync::Mutex::new(None);
            let make = |attempt: u32| {
                let (method, used, body) = (method.clone(), &used, body.as_deref());
                async move {
                    self.pace.wait().await;
                    let creds = self.creds.get().await?;
                    let req = self.signed(method, path, query, body, &creds, ctx, attempt);
                    *used.lock().unwrap_or_else(|p| p.into_inner()) = Some(creds);
                    Ok(req)
                }
            };
            let target = self.config.endpoint.to_string();
            let resp = self.policy.send(&target, make, verdict).await?;
            tracing::debug!(
                status = resp.status,
                bytes = resp.body.len(),
                attempts = resp.attempts,
                "route53: {} answered",
                ctx.action
            );
            let text = resp.text();
            if resp.is_success() {
                return Ok(text);
            }
            let creds = used
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Credentials {
                    access_key_id: "?".into(),
                    secret_access_key: wildcert_provider::Secret::new(""),
                    session_token: None,
                });
            let api = xml::parse_error(&text).unwrap_or_default();
            match self.classify(resp.status, api, resp.retry_after(), ctx, &creds) {
                Attempt::Fail(e) => return Err(e),
                Attempt::Refresh(e) => {
                    if refreshed {
                        return Err(e);
                    }
                    tracing::debug!(
                        "route53: {} answered ExpiredToken; fetching fresh credentials",
                        ctx.action
                    );
                    self.creds.invalidate();
                    refreshed = true;
                }
            }
        }
    }

    /// One attempt's request, signed now with `creds`.
    #[allow(clippy::too_many_arguments)]
    fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&str>,
        creds: &Credentials,
        ctx: &Ctx<'_>,
        attempt: u32,
    ) -> reqwest::RequestBuilder {
        let base = self.config.endpoint.path().trim_end_matches('/');
        let full_path = format!("{base}{API}{path}");
        let host = self.host_header();
        let mut headers = vec![("host".to_string(), host.clone())];
        if body.is_some() {
            headers.push(("content-type".into(), "application/xml".into()));
        }
        let amz_date = sigv4::amz_date(time::OffsetDateTime::now_utc());
        let signed = sigv4::sign(
            &sigv4::Request {
                method: method.as_str(),
                path: &full_path,
                query,
                headers: &headers,
                body: body.unwrap_or_default().as_bytes(),
            },
            creds,
            &self.config.signing_region,
            "route53",
            &amz_date,
        );
        let qs = sigv4::canonical_query(query);
        let url = format!(
            "{}://{host}{}{}{qs}",
            self.config.endpoint.scheme(),
            sigv4::uri_encode(&full_path, true),
            if qs.is_empty() { "" } else { "?" }
        );
        let mut req = self.http.request(method.clone(), &url);
        for (k, v) in headers.iter().chain(&signed) {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        tracing::debug!(%method, path = %full_path, query = %qs, attempt, "route53: {}", ctx.action);
        req
    }

    /// Remove anything of our request the server may echo (AWS's SignatureDoesNotMatch message
    /// quotes the canonical request, session token included), and bound the length.
    fn sanitize(&self, message: &str, creds: &Credentials) -> String {
        let mut m = message
            .split("The Canonical String")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        for s in [Some(&creds.secret_access_key), creds.session_token.as_ref()]
            .into_iter()
            .flatten()
        {
            if !s.expose().is_empty() {
                m = m.replace(s.expose(), "***");
            }
        }
        let m = m.split_whitespace().collect::<Vec<_>>().join(" ");
        if m.chars().count() > 400 {
            format!("{}…", m.chars().take(400).collect::<String>())
        } else {
            m
        }
    }

    fn classify(
        &self,
        status: u16,
        api: ApiError,
        retry_after: Option<Duration>,
        ctx: &Ctx<'_>,
        creds: &Credentials,
    ) -> Attempt {
        let message = self.sanitize(&api.message, creds);
        let code = api.code.as_str();
        let said = if code.is_empty() {
            format!("HTTP {status}")
        } else if message.is_empty() {
            format!("{code} (HTTP {status})")
        } else {
            format!("{code}: {message}")
        };
        let akid = &creds.access_key_id;
        let source = &self.config.credentials_source;
        match code {
            "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException" => {
                return Attempt::Fail(ProviderError::RateLimited {
                    provider: KIND,
                    retry_after,
                });
            }
            "PriorRequestNotComplete" => {
                return Attempt::Fail(ProviderError::Other {
                    provider: KIND,
                    message: format!(
                        "{}: an earlier change to this hosted zone is still being applied (PriorRequestNotComplete); try again in a minute",
                        ctx.action
                    ),
                });
            }
            "InvalidClientTokenId" | "UnrecognizedClientException" | "NotAuthorized" => {
                return Attempt::Fail(ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "{said} — AWS does not know access key id `{akid}` (from {source}); check AWS_ACCESS_KEY_ID, or the session token of temporary credentials"
                    ),
                });
            }
            "SignatureDoesNotMatch" | "IncompleteSignature" | "InvalidSignatureException" => {
                return Attempt::Fail(ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "{code}: the secret access key does not belong to access key id `{akid}` (from {source}), or this machine's clock is off; check AWS_SECRET_ACCESS_KEY"
                    ),
                });
            }
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired"
                if self.creds.source().static_credentials().is_none() =>
            {
                // Fetched credentials: fetch again, then retry once.
                return Attempt::Refresh(ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "{said} — the temporary credentials of `{akid}` (from {source}) expired, and so did fresh ones; check this machine's clock"
                    ),
                });
            }
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
                return Attempt::Fail(ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "{said} — the temporary credentials of `{akid}` (from {source}) expired, or the clock is off; get fresh ones"
                    ),
                });
            }
            "AccessDenied" | "AccessDeniedException" => {
                return Attempt::Fail(ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "{said} — access key `{akid}` (from {source}) may not call {}; grant route53:{} (see docs/providers/route53.md for the policy)",
                        ctx.action, ctx.action
                    ),
                });
            }
            "MissingAuthenticationToken" => {
                return Attempt::Fail(ProviderError::Auth {
                    provider: KIND,
                    message: said,
                });
            }
            "NoSuchHostedZone" | "HostedZoneNotFound" => {
                return Attempt::Fail(ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone: ctx.zone.unwrap_or("?").to_string(),
                    message: format!(
                        "{said}; check hosted_zone_id (AWS_HOSTED_ZONE_ID) and the account of `{akid}`"
                    ),
                });
            }
            "InvalidChangeBatch" | "InvalidInput" | "InvalidDomainName" | "InvalidArgument" => {
                return Attempt::Fail(ProviderError::Rejected {
                    provider: KIND,
                    message: format!("{} refused: {said}", ctx.action),
                });
            }
            _ => {}
        }
        match status {
            429 | 500 | 502 | 503 | 504 => {
                Attempt::Fail(if status == 429 || code.contains("Throttl") {
                    ProviderError::RateLimited {
                        provider: KIND,
                        retry_after,
                    }
                } else {
                    ProviderError::Other {
                        provider: KIND,
                        message: format!("{}: server error {said} (after retries)", ctx.action),
                    }
                })
            }
            401 | 403 => Attempt::Fail(ProviderError::Auth {
                provider: KIND,
                message: format!("{said} — credentials of `{akid}` (from {source}) refused"),
            }),
            404 if code.is_empty() => Attempt::Fail(ProviderError::Other {
                provider: KIND,
                message: format!(
                    "{}: {} answered HTTP 404 without a Route53 error; is endpoint_url a Route53 API?",
                    ctx.action, self.config.endpoint
                ),
            }),
            _ => Attempt::Fail(ProviderError::Other {
                provider: KIND,
                message: format!("{}: {said}", ctx.action),
            }),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        body: &str,
        ctx: &Ctx<'_>,
    ) -> Result<T, ProviderError> {
        quick_xml::de::from_str(body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!(
                "{}: unexpected answer from {} ({e})",
                ctx.action, self.config.endpoint
            ),
        })
    }

    /// `ListHostedZonesByName` for exactly `name`: the zone ids of that name, public or private
    /// as configured.
    async fn zones_named(&self, name: &DnsName) -> Result<Vec<String>, ProviderError> {
        let ctx = Ctx {
            action: "ListHostedZonesByName",
            zone: Some(name.as_str()),
        };
        let query = vec![
            ("dnsname".to_string(), name.to_fqdn()),
            ("maxitems".to_string(), ZONES_PER_PAGE.to_string()),
        ];
        let body = self
            .call(Method::GET, "/hostedzonesbyname", &query, None, &ctx)
            .await?;
        let list: xml::ListHostedZonesByName = self.parse(&body, &ctx)?;
        Ok(list
            .hosted_zones
            .items
            .into_iter()
            .filter(|z| xml::normalize_name(&z.name) == name.as_str())
            .filter(|z| z.is_private() == self.config.private_zone)
            .filter_map(|z| config::normalize_zone_id(&z.id))
            .collect())
    }

    /// The hosted zone id for `zone`: configured, remembered from `zone_for`, or looked up.
    async fn zone_id(&self, zone: &Zone) -> Result<String, ProviderError> {
        if let Some(id) = &self.config.hosted_zone_id {
            return Ok(id.clone());
        }
        if let Some(id) = zone
            .provider_id
            .as_deref()
            .and_then(config::normalize_zone_id)
        {
            return Ok(id);
        }
        let ids = self.zones_named(&zone.name).await?;
        self.pick(&zone.name, ids)?
            .ok_or_else(|| self.no_zone(&zone.name, &[zone.name.to_string()]))
    }

    /// The one zone id of `name`; several zones of one name are ambiguous.
    fn pick(&self, name: &DnsName, ids: Vec<String>) -> Result<Option<String>, ProviderError> {
        match ids.len() {
            0 => Ok(None),
            1 => Ok(ids.into_iter().next()),
            _ => Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: name.to_string(),
                message: format!(
                    "{} {} hosted zones are named {name} ({}); set hosted_zone_id (AWS_HOSTED_ZONE_ID) to the one to use",
                    ids.len(),
                    self.visibility(),
                    ids.join(", ")
                ),
            }),
        }
    }

    fn visibility(&self) -> &'static str {
        if self.config.private_zone {
            "private"
        } else {
            "public"
        }
    }

    fn no_zone(&self, name: &DnsName, asked: &[String]) -> ProviderError {
        let other = if self.config.private_zone {
            "false (public zones)"
        } else {
            "true (private zones)"
        };
        ProviderError::ZoneNotFound {
            provider: KIND,
            zone: name.to_string(),
            message: format!(
                "no {} hosted zone for {name} in the account of `{}` (asked for: {}); create the zone, set hosted_zone_id, \
                 or set private_zone = {other}",
                self.visibility(),
                self.creds.access_key_id(),
                asked.join(", ")
            ),
        }
    }

    /// The TXT RRset at `name`, if any (`ListResourceRecordSets` starting at name/type).
    async fn txt_rrset(
        &self,
        zone_id: &str,
        zone: &Zone,
        name: &DnsName,
    ) -> Result<Option<RrSet>, ProviderError> {
        let ctx = Ctx {
            action: "ListResourceRecordSets",
            zone: Some(zone.name.as_str()),
        };
        let query = vec![
            ("name".to_string(), name.to_fqdn()),
            ("type".to_string(), "TXT".to_string()),
            ("maxitems".to_string(), "1".to_string()),
        ];
        let body = self
            .call(
                Method::GET,
                &format!("/hostedzone/{zone_id}/rrset"),
                &query,
                None,
                &ctx,
            )
            .await?;
        let list: xml::ListResourceRecordSets = self.parse(&body, &ctx)?;
        Ok(list
            .resource_record_sets
            .items
            .into_iter()
            .find(|s| {
                s.kind.eq_ignore_ascii_case("TXT") && xml::normalize_name(&s.name) == name.as_str()
            })
            .map(|s| RrSet {
                ttl: s.ttl.unwrap_or(0),
                set_identifier: s.set_identifier,
                values: s
                    .resource_records
                    .items
                    .into_iter()
                    .map(|r| r.value)
                    .collect(),
            }))
    }

    /// Send one batch; the change id when Route53 still applies it (`PENDING`).
    async fn change(
        &self,
        zone_id: &str,
        zone: &Zone,
        changes: &[Change],
    ) -> Result<Option<String>, ProviderError> {
        let ctx = Ctx {
            action: "ChangeResourceRecordSets",
            zone: Some(zone.name.as_str()),
        };
        let body = xml::change_batch(changes);
        let answer = self
            .call(
                Method::POST,
                &format!("/hostedzone/{zone_id}/rrset"),
                &[],
                Some(body),
                &ctx,
            )
            .await?;
        let info: xml::ChangeResponse = self.parse(&answer, &ctx)?;
        let id = xml::normalize_change_id(&info.change_info.id);
        tracing::debug!(zone = %zone, change = %id, status = %info.change_info.status, changes = changes.len(), "route53: change batch sent");
        Ok((!info.change_info.status.eq_ignore_ascii_case("INSYNC")).then_some(id))
    }

    /// Read, merge and write until the batch applies: re-read when another writer changed an
    /// RRset in between (bounded). The ids of the batches still `PENDING`.
    async fn swap(
        &self,
        zone_id: &str,
        zone: &Zone,
        set: &TxtSet,
        add: bool,
    ) -> Result<Vec<String>, ProviderError> {
        let _guard = self.locks.lock(zone).await;
        let mut pending = Vec::new();
        for attempt in 1..=SWAP_ATTEMPTS {
            let groups = if add {
                self.publish_changes(zone_id, zone, set).await?
            } else {
                self.unpublish_changes(zone_id, zone, set).await?
            };
            if groups.is_empty() {
                tracing::debug!(zone = %zone, add, "route53: nothing to change");
                return Ok(pending);
            }
            let mut conflict = None;
            for batch in batches(groups) {
                match self.change(zone_id, zone, &batch).await {
                    Ok(id) => pending.extend(id),
                    Err(e) if is_swap_conflict(&e) => {
                        conflict = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some(e) = conflict else {
                return Ok(pending);
            };
            if attempt == SWAP_ATTEMPTS {
                return Err(e);
            }
            tracing::debug!(zone = %zone, attempt, "route53: an RRset changed under us ({e}); reading again");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        Ok(pending)
    }

    fn check_inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        match set.names().find(|n| !n.is_within(&zone.name)) {
            Some(n) => Err(ProviderError::Other {
                provider: KIND,
                message: format!("{n} is not inside zone {}", zone.name),
            }),
            None => Ok(()),
        }
    }

    /// The changes that add `set` to what the zone holds (read first: UPSERT replaces an RRset).
    async fn publish_changes(
        &self,
        zone_id: &str,
        zone: &Zone,
        set: &TxtSet,
    ) -> Result<Vec<Vec<Change>>, ProviderError> {
        let mut changes = Vec::new();
        for (name, ours) in set.iter() {
            let current = self.txt_rrset(zone_id, zone, name).await?;
            if let Some(id) = current.as_ref().and_then(|c| c.set_identifier.as_deref()) {
                return Err(ProviderError::Rejected {
                    provider: KIND,
                    message: format!(
                        "{name} holds TXT record sets with a routing policy (SetIdentifier `{id}`: weighted, latency, \
                         failover, geolocation or multivalue), and Route53 refuses a plain TXT record set beside them; \
                         nothing was changed. Delegate the challenge: CNAME {name} to a name in a zone without \
                         routing policies and issue with that zone (see docs/providers/route53.md)"
                    ),
                });
            }
            let present: Vec<String> = current
                .as_ref()
                .map(|c| c.values.iter().map(|v| xml::unquote_txt(v)).collect())
                .unwrap_or_default();
            let missing: Vec<String> = ours
                .iter()
                .filter(|v| !present.contains(v))
                .map(|v| xml::quote_txt(v))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let (ttl, mut values) = match current {
                Some(c) => (c.ttl, c.values),
                None => (set.ttl, Vec::new()),
            };
            values.extend(missing);
            changes.push(vec![Change {
                action: Action::Upsert,
                name: name.to_fqdn(),
                ttl,
                values,
            }]);
        }
        Ok(changes)
    }

    /// The changes that take `set` out again: the remainder UPSERTed, or the RRset DELETEd.
    async fn unpublish_changes(
        &self,
        zone_id: &str,
        zone: &Zone,
        set: &TxtSet,
    ) -> Result<Vec<Vec<Change>>, ProviderError> {
        let mut changes = Vec::new();
        for (name, ours) in set.iter() {
            let Some(current) = self.txt_rrset(zone_id, zone, name).await? else {
                continue;
            };
            if current.set_identifier.is_some() {
                // Never ours: publish refuses such names.
                continue;
            }
            let (mine, rest): (Vec<String>, Vec<String>) = current
                .values
                .iter()
                .cloned()
                .partition(|v| ours.contains(&xml::unquote_txt(v)));
            if mine.is_empty() {
                continue;
            }
            // The exact DELETE of what we read when nothing is left (Route53 refuses it when
            // the RRset changed in between), else the remainder UPSERTed.
            changes.push(vec![if rest.is_empty() {
                Change {
                    action: Action::Delete,
                    name: name.to_fqdn(),
                    ttl: current.ttl,
                    values: current.values,
                }
            } else {
                Change {
                    action: Action::Upsert,
                    name: name.to_fqdn(),
                    ttl: current.ttl,
                    values: rest,
                }
            }]);
        }
        Ok(changes)
    }

    /// `GetChange` once: true when `INSYNC`.
    async fn change_insync(&self, id: &str) -> Result<bool, ProviderError> {
        let ctx = Ctx {
            action: "GetChange",
            zone: None,
        };
        let body = self
            .call(Method::GET, &format!("/change/{id}"), &[], None, &ctx)
            .await?;
        let info: xml::ChangeResponse = self.parse(&body, &ctx)?;
        Ok(info.change_info.status.eq_ignore_ascii_case("INSYNC"))
    }
}

/// Client-side pacing at Route53's documented limit (5 requests per second per account): a
/// token bucket holding 5, refilled at 5 per second, so small runs are not slowed and large
/// ones are not throttled.
#[derive(Debug)]
struct Pace {
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Pace {
    const RATE: f64 = 5.0;

    fn new() -> Self {
        Pace {
            state: tokio::sync::Mutex::new((Self::RATE, Instant::now())),
        }
    }

    async fn wait(&self) {
        let mut st = self.state.lock().await;
        let (tokens, last) = *st;
        let now = Instant::now();
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * Self::RATE).min(Self::RATE);
        if tokens >= 1.0 {
            *st = (tokens - 1.0, now);
            return;
        }
        let wait = Duration::from_secs_f64((1.0 - tokens) / Self::RATE);
        // Holding the lock while sleeping keeps the waiting requests in order.
        tokio::time::sleep(wait).await;
        *st = (0.0, Instant::now());
    }
}

/// What a request is for, to phrase errors.
struct Ctx<'a> {
    action: &'static str,
    zone: Option<&'a str>,
}

/// Groups of changes (each group one name's changes, kept together) packed into
/// batches within Route53's limits ([`BATCH_RECORDS`], [`BATCH_CHARS`]).
fn batches(groups: Vec<Vec<Change>>) -> Vec<Vec<Change>> {
    fn cost(group: &[Change]) -> (usize, usize) {
        group.iter().fold((0, 0), |(n, c), ch| {
            let weight = if ch.action == Action::Upsert { 2 } else { 1 };
            let chars: usize = ch.values.iter().map(String::len).sum();
            (n + weight * ch.values.len(), c + weight * chars)
        })
    }
    let mut out: Vec<Vec<Change>> = Vec::new();
    let (mut n, mut c) = (0, 0);
    for group in groups {
        let (gn, gc) = cost(&group);
        if out.is_empty() || n + gn > BATCH_RECORDS || c + gc > BATCH_CHARS {
            out.push(Vec::new());
            (n, c) = (0, 0);
        }
        (n, c) = (n + gn, c + gc);
        if let Some(last) = out.last_mut() {
            last.extend(group);
        }
    }
    out
}

/// True when Route53 refused a batch because an RRset changed since we read it (our exact
/// DELETE no longer matches).
fn is_swap_conflict(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Rejected { message, .. }
        if message.contains("but it already exists")
            || message.contains("values provided do not match")
            || message.contains("but it was not found"))
}

/// Route53's use of the shared retry policy: `max_retries` bounds retries of one request
/// (connection failures only twice: an unreachable endpoint is more often a wrong URL than
/// an outage), `retry_budget` their time; throttling waits draw on `budget`.
pub fn policy(config: &Route53Config, budget: RateLimitBudget) -> RetryPolicy {
    let mut p = RetryPolicy::new(KIND, budget);
    p.max_attempts = config.max_retries.saturating_add(1);
    p.max_transport_attempts = config.max_retries.min(TRANSPORT_RETRIES).saturating_add(1);
    p.max_rate_limited = config.max_retries.saturating_add(1);
    p.max_total = config.retry_budget;
    p.base = RETRY_BASE;
    p.cap = RETRY_CAP;
    p.body_limit = MAX_BODY;
    p
}

#[async_trait]
impl DnsProvider for Route53Provider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn credential_source(&self) -> Option<String> {
        Some(self.config.credentials_source.clone())
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        // A configured zone id: the apex comes from DNS, and no listing permission is needed.
        if self.config.hosted_zone_id.is_some() {
            return Ok(None);
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let mut asked = Vec::new();
        // Walk up, stopping above the top-level domain.
        for candidate in fqdn.ancestors().filter(|n| n.label_count() >= 2) {
            asked.push(candidate.to_string());
            let ids = self.zones_named(&candidate).await?;
            if let Some(id) = self.pick(&candidate, ids)? {
                let zone = Zone {
                    name: candidate,
                    provider_id: Some(id),
                };
                tracing::debug!(%fqdn, zone = %zone, id = zone.provider_id.as_deref().unwrap_or(""), "route53: hosted zone");
                self.zones.insert(fqdn, &zone);
                return Ok(Some(zone));
            }
        }
        Err(self.no_zone(fqdn, &asked))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        if set.is_empty() {
            return Ok(Applied::default());
        }
        Self::check_inside(zone, set)?;
        let zone_id = self.zone_id(zone).await?;
        let pending = self.swap(&zone_id, zone, set, true).await?;
        // Several batches: their ids, comma-separated (wait_applied waits for each).
        Ok(Applied {
            change_id: (!pending.is_empty()).then(|| pending.join(",")),
        })
    }

    async fn wait_applied(
        &self,
        applied: &Applied,
        timeout: Duration,
    ) -> Result<(), ProviderError> {
        let Some(ids) = applied.change_id.as_deref() else {
            return Ok(());
        };
        let start = Instant::now();
        for id in ids.split(',').filter(|i| !i.is_empty()) {
            let left = timeout.saturating_sub(start.elapsed());
            self.wait_one(&xml::normalize_change_id(id), left).await?;
        }
        Ok(())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        if set.is_empty() {
            return Ok(());
        }
        Self::check_inside(zone, set)?;
        let zone_id = self.zone_id(zone).await?;
        self.swap(&zone_id, zone, set, false).await?;
        Ok(())
    }
}

impl Route53Provider {
    /// Wait until one change is `INSYNC`, bounded by `timeout`.
    async fn wait_one(&self, id: &str, timeout: Duration) -> Result<(), ProviderError> {
        let start = Instant::now();
        let mut delay = POLL_FIRST;
        let mut polls = 0u32;
        loop {
            polls += 1;
            if self.change_insync(id).await? {
                tracing::debug!(change = %id, polls, elapsed_ms = start.elapsed().as_millis() as u64, "route53: change INSYNC");
                return Ok(());
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(ProviderError::Other {
                    provider: KIND,
                    message: format!(
                        "change {id} still PENDING after {} s ({polls} GetChange calls); Route53 usually applies changes within 60 s — \
                         raise --propagation-timeout, or check the AWS status page",
                        timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(delay.min(left)).await;
            delay = (delay * 2).min(POLL_CAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_within_route53_limits_and_keep_groups_whole() {
        let upsert = |i: usize, n: usize| {
            vec![Change {
                action: Action::Upsert,
                name: format!("_acme-challenge.h{i}.example.test."),
                ttl: 60,
                values: (0..n)
                    .map(|j| format!("\"{}{j:03}\"", "x".repeat(40)))
                    .collect(),
            }]
        };
        // 300 names × 2 values, UPSERTs counting twice: 1,200 records, ~27,600 characters × 2.
        let out = batches((0..300).map(|i| upsert(i, 2)).collect());
        assert!(out.len() >= 2, "{} batches", out.len());
        assert_eq!(
            out.iter().map(Vec::len).sum::<usize>(),
            300,
            "every change sent once"
        );
        for b in &out {
            let records: usize = b.iter().map(|c| 2 * c.values.len()).sum();
            let chars: usize = b
                .iter()
                .map(|c| 2 * c.values.iter().map(String::len).sum::<usize>())
                .sum();
            assert!(
                records <= BATCH_RECORDS && chars <= BATCH_CHARS,
                "{records} {chars}"
            );
        }
        // Small sets stay one batch; DELETEs count once.
        assert_eq!(batches((0..3).map(|i| upsert(i, 2)).collect()).len(), 1);
        let delete = |i: usize| {
            vec![Change {
                action: Action::Delete,
                ..upsert(i, 2).remove(0)
            }]
        };
        assert_eq!(batches((0..400).map(delete).collect()).len(), 2);
        assert!(batches(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn pace_allows_a_burst_then_five_per_second() {
        let pace = Pace::new();
        let start = Instant::now();
        for _ in 0..5 {
            pace.wait().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
        pace.wait().await;
        pace.wait().await;
        let e = start.elapsed();
        assert!(
            e >= Duration::from_millis(350) && e < Duration::from_secs(2),
            "{e:?}"
        );
    }
}
