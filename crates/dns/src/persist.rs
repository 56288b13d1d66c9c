//! dns-persist-01 records (draft-ietf-acme-dns-persist): one standing TXT record at
//! `_validation-persist.<name>` that lets one ACME account of one CA validate the name from
//! then on.
//!
//! The value is an RFC 8659 issue-value:
//! `<issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix>]`.
//! [`PersistRecord`] builds it (and its zone-file line), [`match_value`] and [`evaluate`]
//! judge served values by the rules a CA applies (tags case-insensitive; a duplicate tag, an
//! empty parameter or a trailing `;` is malformed; `accounturi` must equal the account URL
//! exactly; a wildcard needs `policy=wildcard`; an expired `persistUntil` no longer counts;
//! records naming other issuers are skipped), and [`check_servers`] / [`check_name`] ask
//! every authoritative server directly whether it serves a matching record.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde::{Deserialize, Serialize};

use crate::discovery::{AuthServer, Discovery, DiscoveryError};
use crate::name::{DnsName, NameError};
use crate::query::{self, rcode_name};
use crate::record::ChallengeRecord;

/// The label dns-persist-01 records live under.
pub const PERSIST_LABEL: &str = "_validation-persist";

/// Default TTL of the zone-file line [`PersistRecord::zone_file_line`] writes.
pub const DEFAULT_TTL: u32 = 3600;

/// `_validation-persist.<base>` for a base name (no `*.`: a wildcard uses its base name).
pub fn record_name(base: &DnsName) -> Result<DnsName, NameError> {
    DnsName::parse(&format!("{PERSIST_LABEL}.{}", base.as_str()))
}

/// Why a record could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistBuildError {
    /// The issuer domain name is empty or has a character an issue-value cannot carry.
    #[error("issuer domain name {0:?} is empty or has whitespace, `;` or `=`")]
    Issuer(String),
    /// The account URL has a character an RFC 8659 parameter value cannot carry.
    #[error(
        "account URL {0:?} is empty or has a character an RFC 8659 value cannot carry (space, `;`, control or non-ASCII)"
    )]
    AccountUri(String),
}

/// One dns-persist-01 record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistRecord {
    /// The CA's issuer domain name (one of its CAA identities, e.g. `letsencrypt.org`).
    pub issuer: String,
    /// The ACME account URL it authorizes.
    pub account_uri: String,
    /// `policy=wildcard`: the record also authorizes `*.<name>`.
    pub wildcard: bool,
    /// `persistUntil`: Unix seconds after which the record no longer counts.
    pub persist_until: Option<i64>,
}

/// RFC 8659 §4.2 `value`: `*(%x21-3A / %x3C-7E)`.
fn valid_value_char(c: char) -> bool {
    matches!(c, '\u{21}'..='\u{3A}' | '\u{3C}'..='\u{7E}')
}

impl PersistRecord {
    /// A record for `issuer` and `account_uri`, checked: neither may hold what an
    /// issue-value cannot carry.
    pub fn new(
        issuer: impl Into<String>,
        account_uri: impl Into<String>,
        wildcard: bool,
        persist_until: Option<i64>,
    ) -> Result<Self, PersistBuildError> {
        let issuer = issuer.into();
        let account_uri = account_uri.into();
        if issuer.is_empty()
            || !issuer
                .chars()
                .all(|c| valid_value_char(c) && c != '=' && c != ';')
        {
            return Err(PersistBuildError::Issuer(issuer));
        }
        if account_uri.is_empty() || !account_uri.chars().all(valid_value_char) {
            return Err(PersistBuildError::AccountUri(account_uri));
        }
        Ok(PersistRecord {
            issuer,
            account_uri,
            wildcard,
            persist_until,
        })
    }

    /// The TXT value: `<issuer>; accounturi=<url>[; policy=wildcard][; persistUntil=<unix>]`.
    pub fn value(&self) -> String {
        let mut v = format!("{}; accounturi={}", self.issuer, self.account_uri);
        if self.wildcard {
            v.push_str("; policy=wildcard");
        }
        if let Some(t) = self.persist_until {
            v.push_str(&format!("; persistUntil={t}"));
        }
        v
    }

    /// The zone-file line for `base`:
    /// `_validation-persist.<base>. <ttl> IN TXT "<value>"` (strings over 255 bytes split,
    /// `"` and `\` escaped).
    pub fn zone_file_line(&self, base: &DnsName, ttl: u32) -> String {
        let name = format!("{PERSIST_LABEL}.{}.", base.as_str());
        format!("{name} {ttl} IN TXT {}", quote_txt(&self.value()))
    }

    /// The record as a [`ChallengeRecord`] at `_validation-persist.<base>`, to publish (or
    /// remove exactly) through a [`crate::DnsProvider`] and wait for with the propagation
    /// checker, like a dns-01 record (CNAME delegation included).
    pub fn challenge_record(&self, base: &DnsName) -> Result<ChallengeRecord, NameError> {
        Ok(ChallengeRecord {
            fqdn: record_name(base)?,
            value: self.value(),
        })
    }

    /// Parse a served value by the CA's rules (any issuer); the error says why it is
    /// malformed.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (issuer, params) = split_issuer(value).ok_or("no issuer domain name")?;
        let p = parse_params(&params)?;
        let account_uri = p
            .account_uri
            .ok_or("missing mandatory accounturi parameter")?;
        Ok(PersistRecord {
            issuer: issuer.to_owned(),
            account_uri,
            wildcard: p.wildcard,
            persist_until: p.persist_until,
        })
    }
}

/// A TXT rdata in presentation form: quoted strings of at most 255 bytes.
fn quote_txt(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    for chunk in bytes.chunks(255) {
        let mut s = String::from("\"");
        for &b in chunk {
            match b {
                b'"' => s.push_str("\\\""),
                b'\\' => s.push_str("\\\\"),
                0x20..=0x7e => s.push(char::from(b)),
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        s.push('"');
        parts.push(s);
    }
    if parts.is_empty() {
        parts.push("\"\"".into());
    }
    parts.join(" ")
}

fn trim_wsp(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Split an issue-value into its issuer domain name and raw parameters (`None` without an
/// issuer).
fn split_issuer(raw: &str) -> Option<(&str, Vec<&str>)> {
    let mut parts = raw.split(';');
    let issuer = trim_wsp(parts.next()?);
    if issuer.is_empty() {
        return None;
    }
    Some((issuer, parts.collect()))
}

struct Params {
    account_uri: Option<String>,
    wildcard: bool,
    persist_until: Option<i64>,
}

fn parse_params(raw: &[&str]) -> Result<Params, String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Params {
        account_uri: None,
        wildcard: false,
        persist_until: None,
    };
    for param in raw {
        let param = trim_wsp(param);
        if param.is_empty() {
            return Err("empty parameter or trailing semicolon".into());
        }
        let Some((tag, value)) = param.split_once('=') else {
            return Err(format!("parameter {param:?} is not tag=value"));
        };
        let (tag, value) = (trim_wsp(tag), trim_wsp(value));
        if tag.is_empty() {
            return Err(format!("parameter {param:?} has an empty tag"));
        }
        let canonical = tag.to_ascii_lowercase();
        if !seen.insert(canonical.clone()) {
            return Err(format!("duplicate parameter {tag:?}"));
        }
        if !value.chars().all(valid_value_char) {
            return Err(format!("malformed value {value:?} for tag {tag:?}"));
        }
        match canonical.as_str() {
            "accounturi" => {
                if value.is_empty() {
                    return Err("empty accounturi".into());
                }
                out.account_uri = Some(value.to_owned());
            }
            // Any policy other than `wildcard` counts as absent.
            "policy" => out.wildcard = value.eq_ignore_ascii_case("wildcard"),
            "persistuntil" => {
                out.persist_until = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| format!("malformed persistUntil timestamp {value:?}"))?,
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// What a record must say to authorize one name for one CA and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistRequirement {
    /// The CA's issuer domain names (the challenge's `issuer-domain-names`, or the
    /// directory's `caaIdentities`): a record naming another issuer is skipped.
    pub issuer_domain_names: Vec<String>,
    /// The account URL `accounturi` must equal exactly.
    pub account_uri: String,
    /// The name is a wildcard: `policy=wildcard` is needed.
    pub wildcard: bool,
    /// Now, as Unix seconds (a record whose `persistUntil` is before this no longer counts).
    pub now: i64,
}

impl PersistRequirement {
    /// The record to publish for this requirement: the first issuer, optional `persistUntil`.
    pub fn record(&self, persist_until: Option<i64>) -> Result<PersistRecord, PersistBuildError> {
        let issuer = self
            .issuer_domain_names
            .first()
            .cloned()
            .unwrap_or_default();
        PersistRecord::new(
            issuer,
            self.account_uri.clone(),
            self.wildcard,
            persist_until,
        )
    }
}

/// How one served value fares against a [`PersistRequirement`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PersistMatch {
    /// It authorizes the name for this CA and account (its `persistUntil`, if any).
    Matches {
        /// The record's `persistUntil`.
        persist_until: Option<i64>,
    },
    /// It names another issuer (or none): skipped, as the CA does.
    OtherIssuer,
    /// It names this CA but does not parse (duplicate tag, empty parameter, trailing `;`,
    /// missing `accounturi`, bad value).
    Malformed {
        /// Why.
        reason: String,
    },
    /// It names another account.
    OtherAccount {
        /// The `accounturi` it names.
        account_uri: String,
    },
    /// The name is a wildcard and the record lacks `policy=wildcard`.
    NoWildcardPolicy,
    /// Its `persistUntil` has passed.
    Expired {
        /// The record's `persistUntil`.
        persist_until: i64,
    },
}

impl fmt::Display for PersistMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistMatch::Matches {
                persist_until: None,
            } => f.write_str("matches"),
            PersistMatch::Matches {
                persist_until: Some(t),
            } => write!(f, "matches (persistUntil {t})"),
            PersistMatch::OtherIssuer => f.write_str("names another issuer"),
            PersistMatch::Malformed { reason } => write!(f, "malformed: {reason}"),
            PersistMatch::OtherAccount { account_uri } => {
                write!(f, "authorizes another account ({account_uri})")
            }
            PersistMatch::NoWildcardPolicy => {
                f.write_str("lacks policy=wildcard, needed for a wildcard name")
            }
            PersistMatch::Expired { persist_until } => {
                write!(f, "expired (persistUntil {persist_until} has passed)")
            }
        }
    }
}

/// Judge one served TXT value (the strings of one record joined).
pub fn match_value(value: &str, req: &PersistRequirement) -> PersistMatch {
    let Some((issuer, params)) = split_issuer(value) else {
        return PersistMatch::OtherIssuer;
    };
    if !req.issuer_domain_names.iter().any(|i| i == issuer) {
        return PersistMatch::OtherIssuer;
    }
    let p = match parse_params(&params) {
        Ok(p) => p,
        Err(reason) => return PersistMatch::Malformed { reason },
    };
    let Some(account_uri) = p.account_uri else {
        return PersistMatch::Malformed {
            reason: "missing mandatory accounturi parameter".into(),
        };
    };
    if account_uri != req.account_uri {
        return PersistMatch::OtherAccount { account_uri };
    }
    if req.wildcard && !p.wildcard {
        return PersistMatch::NoWildcardPolicy;
    }
    if let Some(t) = p.persist_until
        && req.now > t
    {
        return PersistMatch::Expired { persist_until: t };
    }
    PersistMatch::Matches {
        persist_until: p.persist_until,
    }
}

/// The verdict over every value served at one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistVerdict {
    /// Each value with its verdict, as served.
    pub values: Vec<(String, PersistMatch)>,
}

impl PersistVerdict {
    /// The first matching value, if any.
    pub fn matching(&self) -> Option<(&str, Option<i64>)> {
        self.values.iter().find_map(|(v, m)| match m {
            PersistMatch::Matches { persist_until } => Some((v.as_str(), *persist_until)),
            _ => None,
        })
    }

    /// True when some value authorizes the name.
    pub fn matches(&self) -> bool {
        self.matching().is_some()
    }

    /// Why nothing matched, in the CA's order of reporting: malformed records for this CA,
    /// then records for this CA that do not authorize (other account, no wildcard policy,
    /// expired), then "no record for this CA". `None` when a value matches.
    pub fn reason(&self) -> Option<String> {
        if self.matches() {
            return None;
        }
        let of = |f: fn(&PersistMatch) -> bool| -> Vec<String> {
            self.values
                .iter()
                .filter(|(_, m)| f(m))
                .map(|(v, m)| format!("{v:?} {m}"))
                .collect()
        };
        let malformed = of(|m| matches!(m, PersistMatch::Malformed { .. }));
        if !malformed.is_empty() {
            return Some(malformed.join("; "));
        }
        let refused = of(|m| !matches!(m, PersistMatch::OtherIssuer));
        if !refused.is_empty() {
            return Some(refused.join("; "));
        }
        Some(if self.values.is_empty() {
            "no TXT record".into()
        } else {
            "no record names this CA".into()
        })
    }
}

/// Judge every value served at one name.
pub fn evaluate<S: AsRef<str>>(values: &[S], req: &PersistRequirement) -> PersistVerdict {
    PersistVerdict {
        values: values
            .iter()
            .map(|v| (v.as_ref().to_owned(), match_value(v.as_ref(), req)))
            .collect(),
    }
}

/// What one authoritative server serves at the record name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PersistServerState {
    /// It answered authoritatively; the verdict over its values.
    Answered(PersistVerdict),
    /// It answered without the AA bit (not authoritative for the zone).
    NotAuthoritative,
    /// It answered with an error code (REFUSED, SERVFAIL, ...).
    Rcode {
        /// The code's name.
        rcode: String,
    },
    /// It did not answer (timeout, unreachable, bad answer).
    Failed {
        /// What happened.
        error: String,
    },
    /// An IPv6 address this host has no route to: not counted, as long as another address
    /// was checked.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistServerReport {
    /// The server.
    pub server: AuthServer,
    /// What it serves.
    pub state: PersistServerState,
}

impl PersistServerReport {
    /// True when it serves a matching record.
    pub fn matches(&self) -> bool {
        matches!(&self.state, PersistServerState::Answered(v) if v.matches())
    }
}

impl fmt::Display for PersistServerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.server)?;
        match &self.state {
            PersistServerState::Answered(v) => match (v.matching(), v.reason()) {
                (Some((value, _)), _) => write!(f, "serves {value:?}"),
                (None, Some(reason)) => write!(f, "no matching record: {reason}"),
                (None, None) => f.write_str("no matching record"),
            },
            PersistServerState::NotAuthoritative => {
                f.write_str("answers without the AA bit (not authoritative for the zone)")
            }
            PersistServerState::Rcode { rcode } => write!(f, "answered {rcode}"),
            PersistServerState::Failed { error } => f.write_str(error),
            PersistServerState::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// Every authoritative server's answer for one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistReport {
    /// The name asked (`_validation-persist.<base>`, or where its CNAME chain ends).
    pub name: DnsName,
    /// One entry per server address.
    pub servers: Vec<PersistServerReport>,
}

impl PersistReport {
    /// True when every server that was checked serves a matching record (and at least one
    /// was checked; IPv6 addresses without a route do not count either way).
    pub fn all_match(&self) -> bool {
        let checked: Vec<&PersistServerReport> = self
            .servers
            .iter()
            .filter(|s| !matches!(s.state, PersistServerState::Skipped { .. }))
            .collect();
        !checked.is_empty() && checked.iter().all(|s| s.matches())
    }

    /// The earliest `persistUntil` among the matching records, when any has one.
    pub fn earliest_persist_until(&self) -> Option<i64> {
        self.servers
            .iter()
            .filter_map(|s| match &s.state {
                PersistServerState::Answered(v) => v.matching().and_then(|(_, t)| t),
                _ => None,
            })
            .min()
    }

    /// The earliest matching `persistUntil` when it falls before `now + within_secs`
    /// (e.g. 30 days: time to renew the record), `None` otherwise.
    pub fn persist_until_within(&self, now: i64, within_secs: i64) -> Option<i64> {
        self.earliest_persist_until()
            .filter(|&t| t <= now.saturating_add(within_secs))
    }

    /// The servers that do not serve a matching record (skipped ones excluded).
    pub fn failing(&self) -> Vec<&PersistServerReport> {
        self.servers
            .iter()
            .filter(|s| !s.matches() && !matches!(s.state, PersistServerState::Skipped { .. }))
            .collect()
    }
}

/// Ask one server (RD=0) for the TXT records at `name` and judge them.
pub async fn check_server(
    addr: SocketAddr,
    name: &DnsName,
    req: &PersistRequirement,
    timeout: Duration,
) -> PersistServerState {
    let m = match query::query(addr, name, RecordType::TXT, false, timeout).await {
        Ok(m) => m,
        Err(e) if addr.is_ipv6() && e.is_no_route() => {
            return PersistServerState::Skipped {
                reason: format!("no IPv6 route from this host ({})", e.short()),
            };
        }
        Err(e) => return PersistServerState::Failed { error: e.short() },
    };
    match m.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        code => {
            return PersistServerState::Rcode {
                rcode: rcode_name(code),
            };
        }
    }
    if !m.metadata.authoritative {
        return PersistServerState::NotAuthoritative;
    }
    PersistServerState::Answered(evaluate(&query::txt_values(&m, name), req))
}

/// Ask every server in `servers` (concurrently, directly, no cache) about `name`.
pub async fn check_servers(
    servers: &[AuthServer],
    name: &DnsName,
    req: &PersistRequirement,
    timeout: Duration,
) -> PersistReport {
    let states = join_all(
        servers
            .iter()
            .map(|s| async move { check_server(s.addr, name, req, timeout).await }),
    )
    .await;
    PersistReport {
        name: name.clone(),
        servers: servers
            .iter()
            .cloned()
            .zip(states)
            .map(|(server, state)| PersistServerReport { server, state })
            .collect(),
    }
}

/// For `base` (no `*.`): follow CNAMEs from `_validation-persist.<base>`, find the zone that
/// holds the end of the chain and its authoritative servers, and ask each of them.
pub async fn check_name(
    discovery: &Discovery,
    base: &DnsName,
    req: &PersistRequirement,
    timeout: Duration,
) -> Result<PersistReport, DiscoveryError> {
    let from = record_name(base).map_err(|e| DiscoveryError::NoZone {
        name: base.clone(),
        reason: e.to_string(),
    })?;
    let delegation = discovery.follow_cnames(&from).await?;
    let target = delegation.target().clone();
    let zone = discovery.find_zone(&target).await?;
    let servers = discovery.nameservers(&zone).await?;
    Ok(check_servers(&servers, &target, req, timeout).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "https://ca.example/acme/acct/1234";

    fn req(wildcard: bool) -> PersistRequirement {
        PersistRequirement {
            issuer_domain_names: vec!["ca.example".into(), "ca2.example".into()],
            account_uri: ACCT.into(),
            wildcard,
            now: 1_800_000_000,
        }
    }

    #[test]
    fn builds_value_and_zone_line() {
        let r = PersistRecord::new("ca.example", ACCT, true, Some(1_900_000_000)).expect("ok");
        assert_eq!(
            r.value(),
            "ca.example; accounturi=https://ca.example/acme/acct/1234; policy=wildcard; persistUntil=1900000000"
        );
        let base = DnsName::parse("Example.ORG").expect("name");
        assert_eq!(
            r.zone_file_line(&base, 300),
            "_validation-persist.example.org. 300 IN TXT \"ca.example; accounturi=https://ca.example/acme/acct/1234; policy=wildcard; persistUntil=1900000000\""
        );
        let plain = PersistRecord::new("ca.example", ACCT, false, None).expect("ok");
        assert_eq!(
            plain.value(),
            "ca.example; accounturi=https://ca.example/acme/acct/1234"
        );
        assert_eq!(PersistRecord::parse(&r.value()), Ok(r.clone()));
        assert_eq!(
            record_name(&base).expect("name").as_str(),
            "_validation-persist.example.org"
        );
        assert!(matches!(
            PersistRecord::new("ca.example", "https://x/a b", false, None),
            Err(PersistBuildError::AccountUri(_))
        ));
        assert!(matches!(
            PersistRecord::new("ca.example", "https://x/a;b", false, None),
            Err(PersistBuildError::AccountUri(_))
        ));
        assert!(matches!(
            PersistRecord::new("", ACCT, false, None),
            Err(PersistBuildError::Issuer(_))
        ));
        // A long value is split into 255-byte strings.
        let long = PersistRecord::new(
            "ca.example",
            format!("https://x/{}", "a".repeat(300)),
            false,
            None,
        )
        .expect("ok");
        assert_eq!(long.zone_file_line(&base, 60).matches("\" \"").count(), 1);
    }

    #[test]
    fn report_helpers() {
        let base = DnsName::parse("example.org").expect("name");
        let r = PersistRecord::new("ca.example", ACCT, false, Some(1_800_000_100)).expect("ok");
        let cr = r.challenge_record(&base).expect("record");
        assert_eq!(cr.fqdn.as_str(), "_validation-persist.example.org");
        assert_eq!(cr.value, r.value());
        let server = |port: u16, values: Vec<String>| PersistServerReport {
            server: AuthServer {
                name: None,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            },
            state: PersistServerState::Answered(evaluate(&values, &req(false))),
        };
        let report = PersistReport {
            name: cr.fqdn.clone(),
            servers: vec![
                server(1, vec![r.value()]),
                server(2, vec![r.value()]),
                PersistServerReport {
                    server: AuthServer {
                        name: None,
                        addr: "[2001:db8::1]:53".parse().expect("addr"),
                    },
                    state: PersistServerState::Skipped {
                        reason: "no IPv6 route".into(),
                    },
                },
            ],
        };
        assert!(report.all_match());
        assert_eq!(report.persist_until_within(1_800_000_000, 99), None);
        assert_eq!(
            report.persist_until_within(1_800_000_000, 100),
            Some(1_800_000_100)
        );
        let mut lacking = report.clone();
        lacking.servers[1] = server(2, vec![]);
        assert!(!lacking.all_match());
        assert_eq!(lacking.failing().len(), 1);
        assert_eq!(lacking.failing()[0].server.addr.port(), 2);
        let only_skipped = PersistReport {
            name: cr.fqdn,
            servers: vec![report.servers[2].clone()],
        };
        assert!(!only_skipped.all_match(), "nothing checked is no match");
    }

    #[test]
    fn matching_rules() {
        let r = req(false);
        let m = |v: &str| match_value(v, &r);
        assert_eq!(
            m(&format!("ca.example; accounturi={ACCT}")),
            PersistMatch::Matches {
                persist_until: None
            }
        );
        // Tags are case-insensitive, whitespace around parameters is allowed.
        assert!(matches!(
            m(&format!(
                "ca2.example;AccountURI={ACCT} ;\tPersistUntil=1900000000"
            )),
            PersistMatch::Matches {
                persist_until: Some(1_900_000_000)
            }
        ));
        // Unknown tags are ignored; any policy but wildcard is as if absent.
        assert!(matches!(
            m(&format!(
                "ca.example; accounturi={ACCT}; foo=bar; policy=other"
            )),
            PersistMatch::Matches { .. }
        ));
        assert_eq!(
            m(&format!("other.example; accounturi={ACCT}")),
            PersistMatch::OtherIssuer
        );
        assert_eq!(m("; accounturi=x"), PersistMatch::OtherIssuer);
        // The issuer must match exactly, as the CA compares it.
        assert_eq!(
            m(&format!("CA.example; accounturi={ACCT}")),
            PersistMatch::OtherIssuer
        );
        for bad in [
            format!("ca.example; accounturi={ACCT};"),
            format!("ca.example; accounturi={ACCT};; policy=wildcard"),
            format!("ca.example; accounturi={ACCT}; ACCOUNTURI={ACCT}"),
            "ca.example; policy=wildcard".to_owned(),
            "ca.example; accounturi=".to_owned(),
            format!("ca.example; accounturi={ACCT}; persistUntil=soon"),
            format!("ca.example; accounturi={ACCT}; novalue"),
            format!("ca.example; accounturi={ACCT}; =x"),
        ] {
            assert!(
                matches!(m(&bad), PersistMatch::Malformed { .. }),
                "{bad}: {:?}",
                m(&bad)
            );
        }
        assert_eq!(
            m("ca.example; accounturi=https://ca.example/acme/acct/12345"),
            PersistMatch::OtherAccount {
                account_uri: "https://ca.example/acme/acct/12345".into()
            }
        );
        assert_eq!(
            m(&format!(
                "ca.example; accounturi={ACCT}; persistUntil=1799999999"
            )),
            PersistMatch::Expired {
                persist_until: 1_799_999_999
            }
        );
        // Exactly at persistUntil it still counts.
        assert!(matches!(
            m(&format!(
                "ca.example; accounturi={ACCT}; persistUntil=1800000000"
            )),
            PersistMatch::Matches { .. }
        ));
        let w = req(true);
        assert_eq!(
            match_value(&format!("ca.example; accounturi={ACCT}"), &w),
            PersistMatch::NoWildcardPolicy
        );
        assert!(matches!(
            match_value(
                &format!("ca.example; accounturi={ACCT}; policy=WildCard"),
                &w
            ),
            PersistMatch::Matches { .. }
        ));
    }

    #[test]
    fn verdict_over_several_values() {
        let r = req(false);
        let v = evaluate(
            &[
                "v=spf1 -all".to_owned(),
                format!("ca.example; accounturi={ACCT}"),
            ],
            &r,
        );
        assert!(v.matches());
        assert_eq!(v.reason(), None);
        let v = evaluate(
            &[
                "other.example; accounturi=x".to_owned(),
                "ca.example; accounturi=https://other/acct".to_owned(),
                format!("ca.example; accounturi={ACCT};"),
            ],
            &r,
        );
        assert!(!v.matches());
        let reason = v.reason().expect("reason");
        assert!(reason.contains("malformed"), "{reason}");
        assert!(!reason.contains("other.example"), "{reason}");
        let none: [&str; 0] = [];
        assert_eq!(
            evaluate(&none, &r).reason().as_deref(),
            Some("no TXT record")
        );
        let r2 = req(false).record(None).expect("record");
        assert_eq!(r2.issuer, "ca.example");
    }
}
