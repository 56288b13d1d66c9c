//! acme-dns provider (joohoi/acme-dns and its forks): the DNS host keeps one CNAME per name,
//! `_acme-challenge.NAME → <subdomain>.<acme-dns domain>` (the registration's `fulldomain`),
//! and the challenge values go to the acme-dns server with `POST {api}/update`
//! (`X-Api-User`/`X-Api-Key`, `{"subdomain", "txt"}`), which serves them.
//!
//! The pipeline follows the CNAME and hands this provider the `fulldomain`; the registration is
//! found by it. A registration holds only its **two** latest values (each update overwrites the
//! older one), so a wildcard + apex pair fits and a third value would silently push one out:
//! a publish that would need more than two values of one registration at once (counting those
//! this instance published and has not cleaned up) is refused before anything is sent, and a
//! value already sent is not sent again (a repeat would push out its partner). acme-dns has no
//! delete: cleanup forgets the values and leaves them on the server, where the next two updates
//! replace them (they answer authorizations that are already done). A challenge name that
//! reaches the provider unfollowed (`_acme-challenge.NAME` of a registered NAME) means the
//! resolvers did not show the CNAME: refused with the exact record to add, since the CA would
//! not find the values either.

pub mod accounts;
pub mod settings;
pub mod setup;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use wildcert_provider::api::{JsonApi, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::settings::config_error;
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};

pub use accounts::{Account, domain_key};
pub use settings::{AcmeDnsConfig, AcmeDnsSettings, KIND, PROVIDER};

/// Values one registration holds at a time (acme-dns keeps the two latest).
pub const VALUES_PER_REGISTRATION: usize = 2;

/// The acme-dns provider.
#[derive(Debug)]
pub struct AcmeDnsProvider {
    /// Registrations by domain key, with the file each came from.
    accounts: BTreeMap<String, (Account, String)>,
    /// One client per acme-dns server, by its base URL.
    apis: HashMap<String, JsonApi>,
    /// The base URL of each registration's server, by domain key.
    bases: HashMap<String, String>,
    /// Values this instance sent and has not cleaned up, by registration (`fulldomain`).
    live: Mutex<HashMap<String, BTreeSet<String>>>,
    /// When this instance last updated each registration (`fulldomain`).
    updated: Mutex<HashMap<String, Instant>>,
    /// Publishes of one instance run one at a time (the two-value count is checked, then sent).
    serial: tokio::sync::Mutex<()>,
}

/// acme-dns stamps a value with the second it came in and overwrites the row with the
/// oldest stamp, taking the first row on a tie: a pair sent within the same second as the
/// previous pair would overwrite its own first value. A new publish on a registration waits
/// until this long after the previous update.
pub const SAME_SECOND: Duration = Duration::from_millis(1100);

fn rejected(message: String) -> ProviderError {
    ProviderError::Rejected {
        provider: KIND,
        message,
    }
}

impl AcmeDnsProvider {
    /// Build from settings: registrations from `storage_path` (lego's or certbot's file) and
    /// from `<state_dir>/providers/acme-dns/registrations.json` (`wildcert acme-dns register`).
    pub fn new(
        settings: &AcmeDnsSettings,
        state_dir: Option<&Path>,
    ) -> Result<Self, ProviderError> {
        let config = settings.validate()?;
        let mut accounts = BTreeMap::new();
        if let Some(dir) = state_dir {
            let path = accounts::state_file(dir);
            let found = accounts::read_file(&path, "registrations file")?;
            let shown = path.display().to_string();
            for (d, a) in found.unwrap_or_default() {
                accounts.insert(d, (a, shown.clone()));
            }
        }
        if let Some(path) = &config.storage_path {
            let key = "storage_path (ACME_DNS_STORAGE_PATH)";
            let found = accounts::read_file(path, key)?.ok_or_else(|| {
                let m = format!("{key} {} does not exist (lego writes it on its first run; `wildcert acme-dns register` keeps its own in the state dir)", path.display());
                config_error(KIND, m)
            })?;
            // The file the user named wins over wildcert's own for the same domain.
            for (d, a) in found {
                accounts.insert(d, (a, path.display().to_string()));
            }
        }
        Self::with_accounts(&config, accounts)
    }

    /// Build from a validated configuration and registrations (by domain key, with where each
    /// came from).
    pub fn with_accounts(
        config: &AcmeDnsConfig,
        accounts: BTreeMap<String, (Account, String)>,
    ) -> Result<Self, ProviderError> {
        if accounts.is_empty() {
            return Err(config_error(
                KIND,
                "no acme-dns registrations: run `wildcert acme-dns register -d NAME` \
                (with --api-base or ACME_DNS_API_BASE), or set storage_path (ACME_DNS_STORAGE_PATH) to lego's or certbot's registrations file",
            ));
        }
        let (mut apis, mut bases) = (HashMap::new(), HashMap::new());
        for (domain, (acct, file)) in &accounts {
            let base = server_of(config, domain, acct, file)?;
            bases.insert(domain.clone(), base.to_string());
            if !apis.contains_key(base.as_str()) {
                let budget = RateLimitBudget::new(Duration::from_secs(60), "timeout");
                let api =
                    JsonApi::new(KIND, base.clone(), HeaderMap::new(), config.timeout, budget)?;
                apis.insert(base.to_string(), api);
            }
        }
        Ok(AcmeDnsProvider {
            accounts,
            apis,
            bases,
            live: Mutex::default(),
            updated: Mutex::default(),
            serial: tokio::sync::Mutex::new(()),
        })
    }

    /// The registration whose `fulldomain` is `name`, with its domain key; a `_acme-challenge`
    /// name of a registered domain (the CNAME was not seen) and an unknown name are errors.
    fn account_for(&self, name: &DnsName) -> Result<(&str, &Account), ProviderError> {
        let n = name.as_str();
        let by_target = self
            .accounts
            .iter()
            .find(|(_, (a, _))| domain_key(&a.fulldomain) == n);
        if let Some((d, (a, _))) = by_target {
            return Ok((d, a));
        }
        let base = n.strip_prefix("_acme-challenge.").unwrap_or(n);
        if let Some((a, _)) = self.accounts.get(base) {
            return Err(rejected(format!(
                "the resolvers show no CNAME at {n}, so the CA would not find values published on acme-dns: \
                 add `{n}. CNAME {}.` to the zone of {base} (a resolver may also still hold the name's absence \
                 for the zone's negative TTL: wait, or give --resolver)",
                a.fulldomain.trim_end_matches('.')
            )));
        }
        let known: Vec<DnsName> = self
            .accounts
            .keys()
            .filter_map(|d| DnsName::parse(d).ok())
            .collect();
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: n.to_string(),
            message: format!(
                "no acme-dns registration has the fulldomain {n} (registrations: {}); register with \
                 `wildcert acme-dns register -d NAME` and point _acme-challenge.NAME at the fulldomain it prints",
                wildcert_provider::name::zone_listing(&known)
            ),
        })
    }

    fn api_for(&self, domain: &str) -> Result<&JsonApi, ProviderError> {
        let api = self.bases.get(domain).and_then(|b| self.apis.get(b));
        api.ok_or_else(|| {
            config_error(
                KIND,
                format!("no acme-dns server for registration `{domain}`"),
            )
        })
    }

    /// `POST /update` of one value.
    async fn update(&self, domain: &str, acct: &Account, value: &str) -> Result<(), ProviderError> {
        let api = self.api_for(domain)?;
        let mut headers = HeaderMap::new();
        let user = HeaderValue::from_str(acct.username.trim());
        let key = HeaderValue::from_str(acct.password.expose().trim());
        let (Ok(user), Ok(mut key)) = (user, key) else {
            return Err(config_error(
                KIND,
                format!(
                    "registration `{domain}`: its username or password is not a valid header value"
                ),
            ));
        };
        key.set_sensitive(true);
        headers.insert("x-api-user", user);
        headers.insert("x-api-key", key);
        let body = json!({ "subdomain": acct.subdomain, "txt": value });
        let resp = api
            .send_with(Method::POST, api.url(&["update"]), Some(&body), &headers)
            .await?;
        if resp.is_success() {
            tracing::debug!(registration = %domain, fulldomain = %acct.fulldomain, "acme-dns: value updated");
            return Ok(());
        }
        Err(self.update_error(api, &resp, domain, acct))
    }

    /// A refused update, in the words of someone fixing it.
    fn update_error(
        &self,
        api: &JsonApi,
        resp: &Response,
        domain: &str,
        acct: &Account,
    ) -> ProviderError {
        let msg = server_message(&resp.body);
        let (base, file) = (api.base(), &self.accounts[domain].1);
        let allow = match acct.allowfrom.is_empty() {
            true => "its allowfrom networks (none recorded here)".to_string(),
            false => format!("its allowfrom networks ({})", acct.allowfrom.join(", ")),
        };
        let message = match (resp.status, msg.as_str()) {
            (401, _) => format!(
                "{base} refused registration `{domain}` from {file} (401 {msg}): a wrong username or password, \
                 or this host's address is outside {allow}"
            ),
            (400, m) if m.contains("bad_txt") => format!(
                "{base} refused the value (400 bad_txt): acme-dns takes only 43-character values"
            ),
            (400, m) if m.contains("bad_subdomain") => format!(
                "{base}: registration `{domain}` in {file} has an invalid subdomain `{}` (400 bad_subdomain)",
                acct.subdomain
            ),
            (404 | 405, _) => format!(
                "{base} has no POST /update ({}): is api_base (ACME_DNS_API_BASE) the acme-dns API root?",
                resp.status
            ),
            _ => return api.status_error(resp, None),
        };
        if resp.status == 404 || resp.status == 405 {
            return config_error(KIND, message);
        }
        api.status_error_saying(resp, None, message)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeSet<String>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The server a registration is updated on: `api_base` when set (as lego does), else its own
/// `server_url`.
fn server_of(
    config: &AcmeDnsConfig,
    domain: &str,
    acct: &Account,
    file: &str,
) -> Result<reqwest::Url, ProviderError> {
    if let Some(base) = &config.api_base {
        return Ok(base.clone());
    }
    if acct.server_url.trim().is_empty() {
        return Err(config_error(
            KIND,
            format!(
                "registration `{domain}` in {file} has no server_url: set api_base (ACME_DNS_API_BASE) to the acme-dns server it was made on"
            ),
        ));
    }
    settings::api_url(
        &format!("server_url of registration `{domain}` in {file}"),
        acct.server_url.trim(),
    )
}

#[async_trait]
impl DnsProvider for AcmeDnsProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    /// Registered names are left to DNS (the acme-dns domain's zone); others are errors.
    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        self.account_for(fqdn).map(|_| None)
    }

    async fn publish(&self, _zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        let _one_at_a_time = self.serial.lock().await;
        let mut per: BTreeMap<&str, (&Account, BTreeSet<String>, Vec<String>)> = BTreeMap::new();
        for (name, values) in set.iter() {
            let (domain, acct) = self.account_for(name)?;
            let e = per
                .entry(domain)
                .or_insert_with(|| (acct, BTreeSet::new(), Vec::new()));
            e.1.extend(values.iter().cloned());
            e.2.push(name.to_string());
        }
        // Refuse before sending anything: a third value would push one out unseen.
        let mut sends = Vec::new();
        for (domain, (acct, values, names)) in &per {
            let live = self
                .live()
                .get(&acct.fulldomain)
                .cloned()
                .unwrap_or_default();
            let needed: BTreeSet<&String> = live.iter().chain(values.iter()).collect();
            if needed.len() > VALUES_PER_REGISTRATION {
                return Err(rejected(format!(
                    "registration `{domain}` ({}) would need {} values at once ({} of this request at {}, {} \
                     still in use): acme-dns keeps only the two latest values of a registration, so one would be \
                     lost; give each name its own registration and CNAME (`wildcert acme-dns register -d NAME`)",
                    acct.fulldomain,
                    needed.len(),
                    values.len(),
                    names.join(", "),
                    live.len()
                )));
            }
            sends.extend(
                values
                    .iter()
                    .filter(|v| !live.contains(*v))
                    .map(|v| (*domain, *acct, v.clone())),
            );
        }
        let mut waited = BTreeSet::new();
        for (domain, acct, value) in sends {
            let last = self
                .updated
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&acct.fulldomain)
                .copied();
            if let Some(last) = last.filter(|_| waited.insert(domain)) {
                tokio::time::sleep(SAME_SECOND.saturating_sub(last.elapsed())).await;
            }
            self.update(domain, acct, &value).await?;
            let now = Instant::now();
            self.updated
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(acct.fulldomain.clone(), now);
            self.live()
                .entry(acct.fulldomain.clone())
                .or_default()
                .insert(value);
        }
        Ok(Applied::default())
    }

    /// acme-dns cannot delete: the values are forgotten here and stay on the server until
    /// the registration's next two updates replace them.
    async fn unpublish(&self, _zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        for (name, values) in set.iter() {
            let Ok((domain, acct)) = self.account_for(name) else {
                continue;
            };
            if let Some(live) = self.live().get_mut(&acct.fulldomain) {
                live.retain(|v| !values.contains(v));
            }
            tracing::debug!(registration = %domain, "acme-dns has no delete: the values stay until the next two updates replace them");
        }
        Ok(())
    }

    fn credential_source(&self) -> Option<String> {
        let mut files: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, f) in self.accounts.values() {
            *files.entry(f.as_str()).or_default() += 1;
        }
        let list: Vec<String> = files.iter().map(|(f, n)| format!("{f} ({n})")).collect();
        Some(format!("acme-dns registrations: {}", list.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::Secret;

    fn provider(accts: &[(&str, &str)]) -> AcmeDnsProvider {
        let config = AcmeDnsSettings {
            api_base: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        }
        .validate()
        .expect("config");
        let accounts = accts
            .iter()
            .map(|(d, full)| {
                let a = Account {
                    fulldomain: full.to_string(),
                    subdomain: "s".into(),
                    username: "u".into(),
                    password: Secret::new("p"),
                    server_url: String::new(),
                    allowfrom: vec![],
                };
                (d.to_string(), (a, "test".to_string()))
            })
            .collect();
        AcmeDnsProvider::with_accounts(&config, accounts).expect("provider")
    }

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn names_find_their_registration() {
        let p = provider(&[("example.org", "abc.auth.example.net")]);
        assert_eq!(
            p.account_for(&name("ABC.auth.example.net"))
                .expect("found")
                .0,
            "example.org"
        );
        let e = p
            .account_for(&name("_acme-challenge.example.org"))
            .expect_err("no cname")
            .to_string();
        assert!(
            e.contains("_acme-challenge.example.org. CNAME abc.auth.example.net."),
            "{e}"
        );
        let e = p
            .account_for(&name("_acme-challenge.other.org"))
            .expect_err("unknown");
        assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e}");
        assert!(
            e.to_string().contains("example.org") && e.to_string().contains("register"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_third_value_is_refused_before_anything_is_sent() {
        let p = provider(&[("example.org", "abc.auth.example.net")]);
        let mut set = TxtSet::new();
        for v in ["a", "b", "c"] {
            set.insert(name("abc.auth.example.net"), v);
        }
        let zone = Zone::new(name("auth.example.net"));
        let e = p.publish(&zone, &set).await.expect_err("three values");
        assert!(
            matches!(e, ProviderError::Rejected { .. }) && e.to_string().contains("two latest"),
            "{e}"
        );
        assert!(
            p.unpublish(&zone, &set).await.is_ok(),
            "cleanup sends nothing"
        );
        assert!(
            AcmeDnsProvider::with_accounts(
                &AcmeDnsConfig {
                    api_base: None,
                    storage_path: None,
                    allowlist: vec![],
                    timeout: Duration::from_secs(1)
                },
                BTreeMap::new()
            )
            .is_err()
        );
    }
}
