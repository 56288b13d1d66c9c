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

/// The value of TXT content in presentation form: quoted character-strings joined, `\"`,
/// `\\` and `\DDD` unescaped; content without quotes is taken as it is.
pub fn unquote_txt(content: &str) -> String {
    let content = content.trim();
    if !content.starts_with('"') {
        return content.to_string();
    }
    let mut out: Vec<u8> = Vec::new();
    let bytes = content.as_bytes();
    let mut in_quotes = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\\' if in_quotes && i + 1 < bytes.len() => {
                let digits = &bytes[i + 1..bytes.len().min(i + 4)];
                if digits.len() == 3 && digits.iter().all(u8::is_ascii_digit) {
                    let n = digits
                        .iter()
                        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(bytes[i + 1]);
                    i += 1;
                }
            }
            _ if in_quotes => out.push(b),
            _ => {}
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adding or removing our values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `publish`: add ours, keep every other value.
    Add,
    /// `unpublish`: remove exactly ours, keep every other value.
    Remove,
}

/// For APIs that replace a whole RRset: the values one name's TXT set must hold after `change`
/// of `ours`, every other value kept in its order and ours added once; `None` when nothing
/// would change (so nothing is written). An empty list means: delete the RRset.
pub fn merge_values(
    current: &[String],
    ours: &BTreeSet<String>,
    change: Change,
) -> Option<Vec<String>> {
    match change {
        Change::Add => {
            let missing: Vec<&String> = ours.iter().filter(|v| !current.contains(v)).collect();
            if missing.is_empty() {
                return None;
            }
            let mut out = current.to_vec();
            out.extend(missing.into_iter().cloned());
            Some(out)
        }
        Change::Remove => {
            if !current.iter().any(|v| ours.contains(v)) {
                return None;
            }
            Some(
                current
                    .iter()
                    .filter(|v| !ours.contains(*v))
                    .cloned()
                    .collect(),
            )
        }
    }
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
    #[test]
    fn unquote_and_merge() {
        assert_eq!(unquote_txt("\"a\\\"b\\\\c\""), "a\"b\\c");
        assert_eq!(unquote_txt("\"ab\" \"cd\""), "abcd");
        assert_eq!(unquote_txt("\"a\\032b\""), "a b");
        assert_eq!(unquote_txt("plain"), "plain");
        let long = "x".repeat(600);
        assert_eq!(unquote_txt(&quote_txt(&long)), long);
        let ours: BTreeSet<String> = ["b".to_string(), "c".to_string()].into();
        let cur = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            merge_values(&cur, &ours, Change::Add),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            merge_values(&cur, &ours, Change::Remove),
            Some(vec!["a".into()])
        );
        assert_eq!(
            merge_values(&["a".to_string()], &ours, Change::Remove),
            None
        );
        assert_eq!(
            merge_values(&["b".to_string(), "c".to_string()], &ours, Change::Add),
            None
        );
        assert_eq!(
            merge_values(&["b".to_string()], &ours, Change::Remove),
            Some(vec![])
        );
    }
}
