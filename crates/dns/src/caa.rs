//! CAA (RFC 8659) with the ACME parameters of RFC 8657: find the relevant CAA record set of a
//! name by climbing the tree, and decide whether a CA may issue for it with dns-01.
//!
//! The lookup goes through the configured resolvers (RD=1), as the CA's own lookup does: a
//! CNAME at a name is followed (RFC 8659 §3) and the climb continues with the parent of the
//! *original* name when no CAA set is found. The decision ([`decide`]) is pure and unit-tested.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde::Serialize;

use crate::discovery::MAX_CNAME_DEPTH;
use crate::name::{DnsName, Identifier};
use crate::query::{self, from_hickory, rcode_name};

/// Property tags a CA is expected to understand; any other tag with the critical flag set
/// forbids issuance (RFC 8659 §4.1). `issuemail` (RFC 9495), `issuevmc` and the CA/B Forum
/// contact tags are listed so a critical one of those is not mistaken for an unknown tag.
pub const KNOWN_TAGS: &[&str] = &[
    "issue",
    "issuewild",
    "iodef",
    "issuemail",
    "issuevmc",
    "contactemail",
    "contactphone",
];

/// The validation method wildcert uses (RFC 8657 `validationmethods`).
pub const DNS01: &str = "dns-01";

/// One CAA record: flags, tag, value (RFC 8659 §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaaRecord {
    /// The flags octet; bit 7 (128) is the issuer critical flag.
    pub flags: u8,
    /// The property tag (`issue`, `issuewild`, `iodef`, …).
    pub tag: String,
    /// The property value, as text.
    pub value: String,
}

impl CaaRecord {
    /// A record from its parts.
    pub fn new(flags: u8, tag: impl Into<String>, value: impl Into<String>) -> Self {
        CaaRecord {
            flags,
            tag: tag.into(),
            value: value.into(),
        }
    }

    /// True when the issuer critical flag (128) is set.
    pub fn critical(&self) -> bool {
        self.flags & 0x80 != 0
    }

    fn tag_is(&self, tag: &str) -> bool {
        self.tag.eq_ignore_ascii_case(tag)
    }

    fn tag_known(&self) -> bool {
        KNOWN_TAGS.iter().any(|t| self.tag_is(t))
    }
}

impl fmt::Display for CaaRecord {
    /// Zone-file form: `0 issue "letsencrypt.org"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} \"{}\"",
            self.flags,
            self.tag,
            self.value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// The relevant CAA record set of a name: where the climb stopped and what it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaaSet {
    /// The name (the requested one or an ancestor) whose lookup returned the set.
    pub domain: DnsName,
    /// CNAMEs followed from `domain` to the owner of the records (usually empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cname_chain: Vec<DnsName>,
    /// The records.
    pub records: Vec<CaaRecord>,
}

impl CaaSet {
    fn location(&self) -> String {
        match self.cname_chain.last() {
            None => format!("at {}", self.domain),
            Some(owner) => format!("at {} (via CNAME to {owner})", self.domain),
        }
    }
}

/// What a climb found: the relevant set (if any) and the names no resolver answered for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaaLookup {
    /// The relevant set; `None` when no name up to the TLD has CAA records.
    pub set: Option<CaaSet>,
    /// Names asked without a usable answer, below the set (or all of them, without a set),
    /// with what the resolvers said.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unanswered: Vec<(DnsName, String)>,
    /// Every name asked, in order.
    pub asked: Vec<DnsName>,
}

/// What a CA's identity and our account may expect from a CAA set.
#[derive(Clone, Copy, Debug)]
pub struct CaaPolicy<'a> {
    /// The CA's issuer domain names (`meta.caaIdentities` of its directory).
    pub identities: &'a [String],
    /// Our ACME account URL, when known (RFC 8657 `accounturi`).
    pub account_uri: Option<&'a str>,
    /// The validation method (RFC 8657 `validationmethods`), normally [`DNS01`].
    pub method: &'a str,
}

/// The decision for one name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum CaaVerdict {
    /// The CA may issue; why (which record allowed it, or that nothing restricts it).
    Allowed(String),
    /// The CA may not issue; which record forbids it and why.
    Forbidden(String),
    /// Cannot be decided (the CA lists no identities, a lookup failed, the account URL is
    /// unknown); why.
    Undetermined(String),
}

impl CaaVerdict {
    /// The reason text.
    pub fn reason(&self) -> &str {
        match self {
            CaaVerdict::Allowed(r) | CaaVerdict::Forbidden(r) | CaaVerdict::Undetermined(r) => r,
        }
    }

    /// True for [`CaaVerdict::Forbidden`].
    pub fn is_forbidden(&self) -> bool {
        matches!(self, CaaVerdict::Forbidden(_))
    }
}

/// The CAA check of one identifier: lookup plus decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaaReport {
    /// The identifier as ordered (`*.example.com`).
    pub name: String,
    /// The lookup.
    pub lookup: CaaLookup,
    /// The decision.
    pub verdict: CaaVerdict,
}

/// The parsed value of an `issue`/`issuewild` property (RFC 8659 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerValue {
    /// The issuer domain name, lower case, or `None` for an empty value (`;`): no CA.
    pub domain: Option<String>,
    /// `key=value` parameters in order (keys lower case).
    pub parameters: Vec<(String, String)>,
}

/// Parse an `issue`/`issuewild` value:
/// `*WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]`. `Err` when malformed.
pub fn parse_issuer_value(value: &str) -> Result<IssuerValue, String> {
    let (domain_part, rest) = match value.split_once(';') {
        Some((d, r)) => (d, Some(r)),
        None => (value, None),
    };
    // A trailing dot is outside the grammar but harmless: accept it.
    let d = domain_part.trim_matches([' ', '\t']);
    let d = d.strip_suffix('.').unwrap_or(d);
    let domain = if d.is_empty() {
        None
    } else {
        let ok = d
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !ok {
            return Err(format!("`{d}` is not an issuer domain name"));
        }
        Some(d.to_ascii_lowercase())
    };
    let mut parameters = Vec::new();
    if let Some(rest) = rest {
        for p in rest.split(';') {
            let p = p.trim_matches([' ', '\t']);
            if p.is_empty() {
                continue;
            }
            let Some((k, v)) = p.split_once('=') else {
                return Err(format!("parameter `{p}` has no `=`"));
            };
            let k = k.trim_matches([' ', '\t']);
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("parameter `{p}` has a bad name"));
            }
            parameters.push((
                k.to_ascii_lowercase(),
                v.trim_matches([' ', '\t']).to_string(),
            ));
        }
    }
    Ok(IssuerValue { domain, parameters })
}

fn same_domain(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Decide whether the CA may issue for a name (RFC 8659 §4, RFC 8657 §3–4).
///
/// `set` is the relevant CAA set (`None`: no CAA anywhere); `wildcard` selects `issuewild`
/// when the set has any, else `issue`.
pub fn decide(set: Option<&CaaSet>, wildcard: bool, policy: &CaaPolicy<'_>) -> CaaVerdict {
    let Some(set) = set else {
        return CaaVerdict::Allowed(
            "no CAA records on the name or any parent: every CA may issue".into(),
        );
    };
    let at = set.location();
    if let Some(r) = set.records.iter().find(|r| r.critical() && !r.tag_known()) {
        return CaaVerdict::Forbidden(format!(
            "CAA record {at} `{r}` has the critical flag and a tag no CA understands \
             (RFC 8659 §4.1): no CA may issue"
        ));
    }
    let wild: Vec<&CaaRecord> = set
        .records
        .iter()
        .filter(|r| r.tag_is("issuewild"))
        .collect();
    let (prop, selected): (&str, Vec<&CaaRecord>) = if wildcard && !wild.is_empty() {
        ("issuewild", wild)
    } else {
        (
            "issue",
            set.records.iter().filter(|r| r.tag_is("issue")).collect(),
        )
    };
    if selected.is_empty() {
        return CaaVerdict::Allowed(format!(
            "the CAA set {at} has no `{}` property: it does not restrict issuance",
            if wildcard {
                "issue` or `issuewild"
            } else {
                "issue"
            }
        ));
    }
    let parsed: Vec<(&CaaRecord, Result<IssuerValue, String>)> = selected
        .iter()
        .map(|r| (*r, parse_issuer_value(&r.value)))
        .collect();
    let list = |v: &[&CaaRecord]| {
        v.iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if policy.identities.is_empty() {
        let any_issuer = parsed.iter().any(|(_, p)| {
            matches!(
                p,
                Ok(IssuerValue {
                    domain: Some(_),
                    ..
                })
            )
        });
        if !any_issuer {
            return CaaVerdict::Forbidden(format!(
                "the CAA set {at} authorizes no CA for `{prop}` ({}): no CA may issue",
                list(&selected)
            ));
        }
        return CaaVerdict::Undetermined(format!(
            "the CA's directory lists no caaIdentities, so it cannot be told whether the CAA set \
             {at} ({}) names this CA",
            list(&selected)
        ));
    }
    let ids = policy.identities.join(", ");
    let mut notes: Vec<String> = Vec::new();
    let mut undecided: Option<String> = None;
    for (r, p) in &parsed {
        let v = match p {
            Err(e) => {
                notes.push(format!("`{r}` is malformed ({e}) and authorizes no CA"));
                continue;
            }
            Ok(v) => v,
        };
        let Some(domain) = &v.domain else {
            notes.push(format!("`{r}` authorizes no CA"));
            continue;
        };
        let Some(identity) = policy.identities.iter().find(|i| same_domain(i, domain)) else {
            notes.push(format!("`{r}` names another CA"));
            continue;
        };
        let mut ok = true;
        for (k, val) in &v.parameters {
            match k.as_str() {
                "accounturi" => match policy.account_uri {
                    Some(ours) if ours == val => {}
                    Some(ours) => {
                        ok = false;
                        notes.push(format!(
                            "`{r}` limits issuance to the account {val}, ours is {ours} (RFC 8657 accounturi)"
                        ));
                    }
                    None => {
                        ok = false;
                        undecided.get_or_insert_with(|| {
                            format!(
                                "`{r}` {at} limits issuance to the account {val}; our account URL is not \
                                 known yet, so it cannot be compared (RFC 8657 accounturi)"
                            )
                        });
                    }
                },
                "validationmethods" => {
                    let methods: Vec<&str> = val.split(',').map(str::trim).collect();
                    if !methods
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(policy.method))
                    {
                        ok = false;
                        notes.push(format!(
                            "`{r}` allows only the validation methods {val}, not {} (RFC 8657 validationmethods)",
                            policy.method
                        ));
                    }
                }
                _ => {}
            }
        }
        if ok {
            return CaaVerdict::Allowed(format!("CAA record {at} `{r}` authorizes {identity}"));
        }
    }
    if let Some(u) = undecided {
        return CaaVerdict::Undetermined(u);
    }
    CaaVerdict::Forbidden(format!(
        "the CAA set {at} does not authorize this CA ({ids}) for `{prop}`: {}",
        notes.join("; ")
    ))
}

/// Looks up CAA sets through resolvers (RD=1).
#[derive(Clone, Debug)]
pub struct CaaResolver {
    resolvers: Vec<SocketAddr>,
    timeout: Duration,
}

enum Asked {
    Found(Message),
    Failed(String),
}

impl CaaResolver {
    /// Ask these resolvers (in order, until one gives NOERROR or NXDOMAIN).
    pub fn new(resolvers: Vec<SocketAddr>, timeout: Duration) -> Self {
        CaaResolver { resolvers, timeout }
    }

    async fn ask(&self, name: &DnsName) -> Asked {
        let mut reasons = Vec::new();
        for &r in &self.resolvers {
            match query::query(r, name, RecordType::CAA, true, self.timeout).await {
                Ok(m) => match m.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => return Asked::Found(m),
                    code => reasons.push(format!("{r}: {}", rcode_name(code))),
                },
                Err(e) => reasons.push(e.to_string()),
            }
        }
        if reasons.is_empty() {
            reasons.push("no resolvers configured".into());
        }
        Asked::Failed(reasons.join("; "))
    }

    /// The CAA records at `name`, following CNAMEs (bounded): `Ok(None)` when there are none,
    /// `Err` when no resolver answered.
    async fn records_at(
        &self,
        name: &DnsName,
    ) -> Result<Option<(Vec<DnsName>, Vec<CaaRecord>)>, String> {
        let mut chain: Vec<DnsName> = Vec::new();
        let mut seen = BTreeSet::from([name.clone()]);
        let mut current = name.clone();
        for _ in 0..=MAX_CNAME_DEPTH {
            let m = match self.ask(&current).await {
                Asked::Found(m) => m,
                Asked::Failed(e) => return Err(e),
            };
            let (owners, records) = caa_in(&m);
            if !records.is_empty() {
                // A resolver that chased the chain itself: the owner is the chain's end.
                if let Some(owner) = owners.into_iter().next()
                    && owner != current
                {
                    chain.push(owner);
                }
                return Ok(Some((chain, records)));
            }
            // An authoritative server returns the CNAME alone: follow it ourselves.
            let Some(next) = cname_of(&m, &current) else {
                return Ok(None);
            };
            if !seen.insert(next.clone()) {
                return Err(format!("CNAME loop at {next}"));
            }
            chain.push(next.clone());
            current = next;
        }
        Err(format!(
            "CNAME chain longer than {MAX_CNAME_DEPTH} at {name}"
        ))
    }

    /// Climb from `name` (for a wildcard, its base) to the TLD until a CAA set is found
    /// (RFC 8659 §3).
    pub async fn lookup(&self, name: &DnsName) -> CaaLookup {
        let mut out = CaaLookup::default();
        for candidate in name.ancestors() {
            out.asked.push(candidate.clone());
            match self.records_at(&candidate).await {
                Ok(Some((cname_chain, records))) => {
                    tracing::debug!(%candidate, records = records.len(), "relevant CAA set");
                    out.set = Some(CaaSet {
                        domain: candidate,
                        cname_chain,
                        records,
                    });
                    return out;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(%candidate, "CAA lookup failed: {e}");
                    out.unanswered.push((candidate, e));
                }
            }
        }
        out
    }

    /// Lookup plus decision for one identifier. A lookup failure below the relevant set (or
    /// anywhere, when there is none) makes the verdict undetermined unless the set forbids.
    pub async fn check(&self, id: &Identifier, policy: &CaaPolicy<'_>) -> CaaReport {
        let lookup = self.lookup(id.base()).await;
        let verdict = verdict_for(&lookup, id.is_wildcard(), policy);
        CaaReport {
            name: id.as_acme(),
            lookup,
            verdict,
        }
    }

    /// The gate before an order: every identifier checked at once; the first one a CAA set
    /// forbids is returned. Undecidable names are logged and let through (the CA decides).
    pub async fn gate(&self, ids: &[Identifier], policy: &CaaPolicy<'_>) -> Result<(), CaaReport> {
        let reports = join_all(ids.iter().map(|id| self.check(id, policy))).await;
        for r in reports {
            match &r.verdict {
                CaaVerdict::Forbidden(reason) => {
                    tracing::warn!(name = %r.name, "CAA forbids issuance: {reason}");
                    return Err(r);
                }
                CaaVerdict::Undetermined(reason) => {
                    tracing::warn!(name = %r.name, "CAA could not be decided (ordering anyway): {reason}")
                }
                CaaVerdict::Allowed(reason) => tracing::debug!(name = %r.name, "CAA: {reason}"),
            }
        }
        Ok(())
    }
}

/// The verdict for a finished lookup (see [`CaaResolver::check`]).
pub fn verdict_for(lookup: &CaaLookup, wildcard: bool, policy: &CaaPolicy<'_>) -> CaaVerdict {
    let verdict = decide(lookup.set.as_ref(), wildcard, policy);
    if lookup.unanswered.is_empty() || verdict.is_forbidden() {
        return verdict;
    }
    let failed = lookup
        .unanswered
        .iter()
        .map(|(n, e)| format!("{n} ({e})"))
        .collect::<Vec<_>>()
        .join("; ");
    match &lookup.set {
        None => CaaVerdict::Undetermined(format!(
            "no CAA records found, but the CAA lookup got no usable answer for {failed}; the CA's \
             own lookup must succeed to issue"
        )),
        Some(_) => CaaVerdict::Undetermined(format!(
            "{} — but the CAA lookup got no usable answer for {failed} below it",
            verdict.reason()
        )),
    }
}

/// CAA records in an answer, with their owners.
fn caa_in(m: &Message) -> (Vec<DnsName>, Vec<CaaRecord>) {
    let mut owners = Vec::new();
    let mut records = Vec::new();
    for r in &m.answers {
        if let RData::CAA(caa) = &r.data {
            if let Some(owner) = from_hickory(&r.name)
                && !owners.contains(&owner)
            {
                owners.push(owner);
            }
            records.push(CaaRecord {
                flags: caa.flags(),
                tag: caa.tag.clone(),
                value: String::from_utf8_lossy(&caa.value).into_owned(),
            });
        }
    }
    (owners, records)
}

fn cname_of(m: &Message, name: &DnsName) -> Option<DnsName> {
    let want = query::to_hickory(name);
    m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if r.name == want => from_hickory(&c.0),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LE: &str = "letsencrypt.org";
    const ACCOUNT: &str = "https://acme.example/acct/1";

    fn set(records: &[(u8, &str, &str)]) -> CaaSet {
        CaaSet {
            domain: DnsName::parse("example.com").expect("name"),
            cname_chain: Vec::new(),
            records: records
                .iter()
                .map(|(f, t, v)| CaaRecord::new(*f, *t, *v))
                .collect(),
        }
    }

    fn policy(ids: &[String]) -> CaaPolicy<'_> {
        CaaPolicy {
            identities: ids,
            account_uri: Some(ACCOUNT),
            method: DNS01,
        }
    }

    fn le() -> Vec<String> {
        vec![LE.to_string()]
    }

    #[test]
    fn no_caa_allows() {
        let ids = le();
        assert!(matches!(
            decide(None, false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
    }

    #[test]
    fn issue_names_the_ca_case_insensitively() {
        let ids = le();
        let s = set(&[(0, "issue", "LetsEncrypt.org."), (0, "iodef", "mailto:x@y")]);
        let v = decide(Some(&s), false, &policy(&ids));
        assert!(
            matches!(&v, CaaVerdict::Allowed(r) if r.contains("example.com")),
            "{v:?}"
        );
    }

    #[test]
    fn other_ca_forbids_and_names_the_record() {
        let ids = le();
        let s = set(&[(0, "issue", "other-ca.example")]);
        let v = decide(Some(&s), false, &policy(&ids));
        assert!(v.is_forbidden(), "{v:?}");
        assert!(
            v.reason().contains("`0 issue \"other-ca.example\"`"),
            "{v:?}"
        );
        assert!(v.reason().contains("at example.com"), "{v:?}");
    }

    #[test]
    fn empty_issuer_forbids_even_without_identities() {
        let s = set(&[(0, "issue", ";")]);
        assert!(decide(Some(&s), false, &policy(&le())).is_forbidden());
        assert!(decide(Some(&s), false, &policy(&[])).is_forbidden());
    }

    #[test]
    fn no_identities_is_undetermined() {
        let s = set(&[(0, "issue", LE)]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&[])),
            CaaVerdict::Undetermined(_)
        ));
    }

    #[test]
    fn issuewild_for_wildcards_only() {
        let ids = le();
        let s = set(&[(0, "issue", LE), (0, "issuewild", ";")]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
        let v = decide(Some(&s), true, &policy(&ids));
        assert!(
            v.is_forbidden() && v.reason().contains("issuewild"),
            "{v:?}"
        );
        // Without issuewild, a wildcard falls back to issue.
        let s = set(&[(0, "issue", LE)]);
        assert!(matches!(
            decide(Some(&s), true, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
        // issuewild alone does not restrict a non-wildcard name.
        let s = set(&[(0, "issuewild", "other.example")]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
    }

    #[test]
    fn accounturi_must_match() {
        let ids = le();
        let s = set(&[(0, "issue", &format!("{LE}; accounturi={ACCOUNT}"))]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
        let s = set(&[(
            0,
            "issue",
            "letsencrypt.org; accounturi=https://acme.example/acct/2",
        )]);
        let v = decide(Some(&s), false, &policy(&ids));
        assert!(
            v.is_forbidden() && v.reason().contains("accounturi"),
            "{v:?}"
        );
        let unknown = CaaPolicy {
            account_uri: None,
            ..policy(&ids)
        };
        assert!(matches!(
            decide(Some(&s), false, &unknown),
            CaaVerdict::Undetermined(_)
        ));
    }

    #[test]
    fn validationmethods_must_include_dns01() {
        let ids = le();
        let s = set(&[(
            0,
            "issue",
            "letsencrypt.org; validationmethods=http-01,tls-alpn-01",
        )]);
        let v = decide(Some(&s), false, &policy(&ids));
        assert!(
            v.is_forbidden() && v.reason().contains("validationmethods"),
            "{v:?}"
        );
        let s = set(&[(
            0,
            "issue",
            "letsencrypt.org;validationmethods=http-01, dns-01",
        )]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
    }

    #[test]
    fn one_allowing_record_is_enough() {
        let ids = le();
        let s = set(&[(0, "issue", "other.example"), (0, "issue", LE)]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
    }

    #[test]
    fn critical_unknown_tag_forbids() {
        let ids = le();
        let s = set(&[(0, "issue", LE), (128, "tbs", "x")]);
        let v = decide(Some(&s), false, &policy(&ids));
        assert!(v.is_forbidden() && v.reason().contains("128 tbs"), "{v:?}");
        // Not critical: ignored. Critical but known: fine.
        let s = set(&[
            (0, "tbs", "x"),
            (128, "issue", LE),
            (128, "iodef", "mailto:a@b"),
        ]);
        assert!(matches!(
            decide(Some(&s), false, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
    }

    #[test]
    fn only_iodef_does_not_restrict() {
        let ids = le();
        let s = set(&[(0, "iodef", "mailto:a@b")]);
        assert!(matches!(
            decide(Some(&s), true, &policy(&ids)),
            CaaVerdict::Allowed(_)
        ));
    }

    #[test]
    fn malformed_value_authorizes_no_one() {
        let ids = le();
        let s = set(&[(0, "issue", "letsencrypt.org; bogus")]);
        assert!(decide(Some(&s), false, &policy(&ids)).is_forbidden());
    }

    #[test]
    fn parses_issuer_values() {
        assert_eq!(
            parse_issuer_value(" ca.example ; accounturi = https://a/1 ;validationmethods=dns-01"),
            Ok(IssuerValue {
                domain: Some("ca.example".into()),
                parameters: vec![
                    ("accounturi".into(), "https://a/1".into()),
                    ("validationmethods".into(), "dns-01".into())
                ],
            })
        );
        assert_eq!(
            parse_issuer_value(";"),
            Ok(IssuerValue {
                domain: None,
                parameters: vec![]
            })
        );
        assert_eq!(
            parse_issuer_value(""),
            Ok(IssuerValue {
                domain: None,
                parameters: vec![]
            })
        );
        assert!(parse_issuer_value("bad domain").is_err());
    }

    #[test]
    fn lookup_failures_make_it_undetermined_unless_forbidden() {
        let ids = le();
        let failed = vec![(DnsName::parse("com").expect("name"), "REFUSED".to_string())];
        let none = CaaLookup {
            set: None,
            unanswered: failed.clone(),
            asked: vec![],
        };
        assert!(matches!(
            verdict_for(&none, false, &policy(&ids)),
            CaaVerdict::Undetermined(_)
        ));
        let forbidding = CaaLookup {
            set: Some(set(&[(0, "issue", "other.example")])),
            unanswered: failed,
            asked: vec![],
        };
        assert!(verdict_for(&forbidding, false, &policy(&ids)).is_forbidden());
    }

    #[test]
    fn record_display_is_zone_file_form() {
        assert_eq!(
            CaaRecord::new(128, "issue", "a\"b").to_string(),
            "128 issue \"a\\\"b\""
        );
    }
}
