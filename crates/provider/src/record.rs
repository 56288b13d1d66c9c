//! TXT record sets: what the CA asks for, grouped by the zone that must carry it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::DnsName;

/// Default TTL of the TXT records we publish: short, so resolvers forget them quickly.
pub const DEFAULT_TTL: u32 = 60;

/// One dns-01 TXT value the CA will look up (RFC 8555 §8.4).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChallengeRecord {
    /// Where the CA looks: `_acme-challenge.<name>` (before any CNAME delegation).
    pub fqdn: DnsName,
    /// base64url(SHA-256(key authorization)).
    pub value: String,
}

/// A DNS zone as a provider knows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Zone {
    /// The zone apex, e.g. `example.com`.
    pub name: DnsName,
    /// The provider's own handle for the zone (Cloudflare zone id, Route53 hosted zone id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
}

impl Zone {
    /// A zone known only by its apex name.
    pub fn new(name: DnsName) -> Self {
        Zone {
            name,
            provider_id: None,
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

/// A set of TXT values per owner name: several values at one name are normal (wildcard + apex).
///
/// Providers add these values to whatever the zone already holds, and remove only these values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxtSet {
    records: BTreeMap<DnsName, BTreeSet<String>>,
    /// TTL for the records (seconds).
    pub ttl: u32,
}

impl TxtSet {
    /// An empty set with the default TTL.
    pub fn new() -> Self {
        TxtSet {
            records: BTreeMap::new(),
            ttl: DEFAULT_TTL,
        }
    }

    /// An empty set with the given TTL (seconds).
    pub fn with_ttl(ttl: u32) -> Self {
        TxtSet {
            records: BTreeMap::new(),
            ttl,
        }
    }

    /// Add one value at `name`; duplicates collapse.
    pub fn insert(&mut self, name: DnsName, value: impl Into<String>) {
        self.records.entry(name).or_default().insert(value.into());
    }

    /// The owner names in this set.
    pub fn names(&self) -> impl Iterator<Item = &DnsName> {
        self.records.keys()
    }

    /// The values at one name (empty when the name is absent).
    pub fn values(&self, name: &DnsName) -> impl Iterator<Item = &str> {
        self.records
            .get(name)
            .into_iter()
            .flat_map(|v| v.iter().map(String::as_str))
    }

    /// Every (name, values) pair.
    pub fn iter(&self) -> impl Iterator<Item = (&DnsName, &BTreeSet<String>)> {
        self.records.iter()
    }

    /// Every (name, value) pair, flattened.
    pub fn pairs(&self) -> impl Iterator<Item = (&DnsName, &str)> {
        self.records
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |v| (n, v.as_str())))
    }

    /// Number of (name, value) pairs.
    pub fn len(&self) -> usize {
        self.records.values().map(BTreeSet::len).sum()
    }

    /// True when the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Merge another set into this one.
    pub fn extend(&mut self, other: &TxtSet) {
        for (name, value) in other.pairs() {
            self.insert(name.clone(), value);
        }
    }
}

/// A TXT value in presentation form (RFC 1035 §5.1), as the PowerDNS and Route53 APIs take
/// it: quoted, `"` and `\` escaped, split into character-strings of at most 255 bytes.
pub fn quote_txt(value: &str) -> String {
    const CHUNK: usize = 255;
    let mut parts = Vec::new();
    let mut cur = String::new();
    for c in value.chars() {
        if cur.len() + c.len_utf8() > CHUNK {
            parts.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_presentation_form() {
        assert_eq!(quote_txt(""), "\"\"");
        assert_eq!(quote_txt("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote_txt(&"x".repeat(600)).matches('"').count(), 6);
    }

    #[test]
    fn keeps_several_values_per_name() {
        let name = DnsName::parse("_acme-challenge.example.com").expect("valid");
        let mut set = TxtSet::new();
        set.insert(name.clone(), "a");
        set.insert(name.clone(), "b");
        set.insert(name.clone(), "a");
        assert_eq!(set.len(), 2);
        assert_eq!(set.values(&name).collect::<Vec<_>>(), ["a", "b"]);
        let json = serde_json::to_string(&set).expect("serialise");
        let back: TxtSet = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, set);
    }
}
