//! The data a run is made of: a validated request, the provider that answers for it, what an
//! issuance produced, and how long each stage took. Everything here is plain data; the
//! stages that produce it live in [`crate::issue`] and [`crate::renew`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wildcert_acme::{CertKeyType, ValidationMethod};
use wildcert_dns::{DnsProvider, Identifier};

use crate::error::IssueError;

/// Bound on waiting for the CA after the challenges are answered (validation, finalize).
pub const CA_WAIT: Duration = Duration::from_secs(300);
/// How long a run waits for another run's lock on the same certificate.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The names of one certificate: parsed and normalised once (IDNA, lower case, wildcard only
/// as the whole left label), deduplicated, in request order, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names(Vec<Identifier>);

impl Names {
    /// Parse and normalise `names`; the first bad name, or no name at all, is an error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Names, IssueError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for n in names {
            let id = Identifier::parse(n.as_ref())?;
            if seen.insert(id.clone()) {
                out.push(id);
            }
        }
        if out.is_empty() {
            return Err(IssueError::NoNames);
        }
        Ok(Names(out))
    }

    /// The identifiers, in request order.
    pub fn identifiers(&self) -> &[Identifier] {
        &self.0
    }

    /// The names as ACME identifiers (`*.example.com`, `example.com`).
    pub fn as_acme(&self) -> Vec<String> {
        self.0.iter().map(Identifier::as_acme).collect()
    }

    /// The default store name: the first name without `*.`.
    pub fn default_cert_name(&self) -> String {
        // `parse` never returns an empty list.
        self.0
            .first()
            .map(|i| i.base().to_string())
            .unwrap_or_default()
    }

    /// The names sorted, for comparing two requests.
    pub fn sorted(&self) -> Vec<String> {
        let mut v = self.as_acme();
        v.sort();
        v
    }
}

/// One certificate to issue: every field already checked.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Store name (`certs/<cert_name>`).
    pub cert_name: String,
    /// The names to certify.
    pub names: Names,
    /// Certificate key type.
    pub key_type: CertKeyType,
    /// ACME profile.
    pub profile: Option<String>,
    /// Preferred chain (issuer CN).
    pub preferred_chain: Option<String>,
    /// Group and mode of the private key (`key_group`, `key_mode`).
    pub key_perms: crate::store::KeyPerms,
    /// How the names are validated.
    pub challenge: ChallengeChoice,
    /// The request to record with the certificate (`issue`'s, carried forward by `renew`).
    pub recorded: Option<crate::store::RecordedRequest>,
    /// The config file whose `[[certificate]]` entry asked for it (`renew`), recorded with it.
    pub config_file: Option<std::path::PathBuf>,
    /// Finalize with the live version's key when it has the requested type (`reuse_key`).
    pub reuse_key: bool,
}

/// The validation method asked for (`--challenge`, `challenge = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeChoice {
    /// This method for every name.
    Method(ValidationMethod),
    /// dns-persist-01 for a name when the CA offers it and every authoritative server serves
    /// a matching record, else dns-01.
    Auto,
}

impl Default for ChallengeChoice {
    /// dns-01.
    fn default() -> Self {
        ChallengeChoice::Method(ValidationMethod::Dns01)
    }
}

impl ChallengeChoice {
    /// `dns-01`, `dns-account-01`, `dns-persist-01` or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeChoice::Method(m) => m.as_str(),
            ChallengeChoice::Auto => "auto",
        }
    }

    /// True when some name may need a DNS provider (everything but dns-persist-01).
    pub fn needs_provider(self) -> bool {
        self != ChallengeChoice::Method(ValidationMethod::DnsPersist01)
    }

    /// True when dns-persist-01 records are checked before ordering.
    pub fn checks_persist(self) -> bool {
        matches!(
            self,
            ChallengeChoice::Auto | ChallengeChoice::Method(ValidationMethod::DnsPersist01)
        )
    }
}

impl fmt::Display for ChallengeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChallengeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(ChallengeChoice::Auto);
        }
        s.parse::<ValidationMethod>()
            .map(ChallengeChoice::Method)
            .map_err(|_| {
                format!(
                    "unknown challenge {s:?} (known: dns-01, dns-account-01, dns-persist-01, auto)"
                )
            })
    }
}

impl IssueRequest {
    /// A request for `names` with the default key type, no profile and no preferred chain;
    /// the store name defaults to the first name without `*.`.
    pub fn new<S: AsRef<str>>(names: &[S], cert_name: Option<String>) -> Result<Self, IssueError> {
        let names = Names::parse(names)?;
        let cert_name = match cert_name {
            Some(n) => n,
            None => names.default_cert_name(),
        };
        Ok(IssueRequest {
            cert_name,
            names,
            key_type: CertKeyType::default(),
            profile: None,
            preferred_chain: None,
            key_perms: crate::store::KeyPerms::default(),
            challenge: ChallengeChoice::default(),
            recorded: None,
            reuse_key: false,
            config_file: None,
        })
    }
}

/// A DNS provider with the id it was built from (`[providers.<id>]` or a kind): the id is
/// what `meta.json` and the journal record, so the two always travel together.
#[derive(Clone)]
pub struct NamedProvider {
    /// The id given with `--dns` or `provider = "…"`.
    pub id: String,
    /// The provider.
    pub dns: Arc<dyn DnsProvider>,
    /// The certbot credentials file it was built with, if any (the journal records it, so a
    /// later run's cleanup builds the same provider).
    pub credentials: Option<std::path::PathBuf>,
}

impl NamedProvider {
    /// Pair a provider with its id.
    pub fn new(id: impl Into<String>, dns: Arc<dyn DnsProvider>) -> Self {
        NamedProvider {
            id: id.into(),
            dns,
            credentials: None,
        }
    }
}

/// The id of [`NamedProvider::none`].
pub const NO_PROVIDER: &str = "none";

impl NamedProvider {
    /// The stand-in for certificates validated with dns-persist-01 only: nothing is published
    /// per order, so no provider and no DNS credentials are needed. Every write is refused.
    pub fn none() -> Self {
        NamedProvider::new(NO_PROVIDER, Arc::new(NoProvider))
    }

    /// True for [`NamedProvider::none`].
    pub fn is_none(&self) -> bool {
        self.id == NO_PROVIDER && self.dns.name() == NO_PROVIDER
    }
}

/// A provider that publishes nothing (dns-persist-01 needs no provider).
struct NoProvider;

#[async_trait::async_trait]
impl DnsProvider for NoProvider {
    fn name(&self) -> &'static str {
        NO_PROVIDER
    }

    async fn publish(
        &self,
        _zone: &wildcert_dns::Zone,
        _set: &wildcert_dns::TxtSet,
    ) -> Result<wildcert_dns::Applied, wildcert_dns::ProviderError> {
        Err(wildcert_dns::ProviderError::Config {
            provider: wildcert_dns::Kind::plain(NO_PROVIDER),
            message: "no DNS provider given (--dns or provider = \"…\"): only dns-persist-01 works without one".into(),
        })
    }

    async fn unpublish(
        &self,
        _zone: &wildcert_dns::Zone,
        _set: &wildcert_dns::TxtSet,
    ) -> Result<(), wildcert_dns::ProviderError> {
        Ok(())
    }
}

impl fmt::Debug for NamedProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedProvider")
            .field("id", &self.id)
            .field("kind", &self.dns.name())
            .finish()
    }
}

/// What an issuance produced (`--json` prints it as `report::Certificate`).
#[derive(Debug, Clone)]
pub struct Issued {
    /// Store name.
    pub cert_name: String,
    /// Archive version now live.
    pub version: u32,
    /// `certs/<name>/live`.
    pub live_dir: PathBuf,
    /// Names in the certificate.
    pub names: Vec<String>,
    /// Key type.
    pub key_type: String,
    /// RFC 3339 notBefore.
    pub not_before: String,
    /// RFC 3339 notAfter.
    pub not_after: String,
    /// Issuer common name of the leaf.
    pub issuer: Option<String>,
    /// Serial number, hex.
    pub serial: String,
    /// The order URL.
    pub order_url: String,
    /// Time spent, milliseconds: total and per stage.
    pub timings_ms: Timings,
    /// DNS zones updated, and the number of TXT values in each.
    pub zones: Vec<(String, usize)>,
    /// HTTP requests sent to the CA.
    pub acme_requests: u64,
    /// DNS queries the propagation checker sent.
    pub dns_queries: u64,
}

/// Stage timings in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Whole run.
    pub total: u64,
    /// Order + authorizations.
    pub order: u64,
    /// Planning + publish.
    pub publish: u64,
    /// Propagation wait.
    pub propagation: u64,
    /// CA validation.
    pub validation: u64,
    /// Finalize + download.
    pub finalize: u64,
}

/// Milliseconds since `t`.
pub(crate) fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_once_deduplicated_and_named() {
        let r = IssueRequest::new(&["*.Example.com", "example.com", "EXAMPLE.com."], None)
            .expect("valid");
        assert_eq!(r.cert_name, "example.com");
        assert_eq!(r.names.identifiers().len(), 2);
        assert_eq!(r.names.as_acme(), vec!["*.example.com", "example.com"]);
        let none: [&str; 0] = [];
        assert!(matches!(
            IssueRequest::new(&none, None),
            Err(IssueError::NoNames)
        ));
        assert!(matches!(
            IssueRequest::new(&["a.*.example.com"], None),
            Err(IssueError::Name(_))
        ));
        let long = format!("{}.example.com", "a.".repeat(120));
        assert!(matches!(
            IssueRequest::new(&[long.as_str()], None),
            Err(IssueError::Name(_))
        ));
    }
}
