//! Zones and records of a record-API fake (most DNS hosts' APIs: records with ids in zones),
//! whose TXT sets land in a real zone through [`ZoneMirror`] (RFC 2136 to the BIND topology's
//! primary) before a change counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::BindTopology;
use crate::nsupdate::nsupdate_blocking;
use crate::router::{FakeServer, now_rfc3339, random_id};
use crate::util::{KitError, Result};

/// A zone of a fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZone {
    /// Id (32 hex).
    pub id: String,
    /// Name, lower case, no trailing dot.
    pub name: String,
}

/// A DNS record as a fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// Record id (32 hex).
    pub id: String,
    /// Zone id.
    pub zone_id: String,
    /// Zone name.
    pub zone_name: String,
    /// Type, e.g. `TXT`.
    pub rtype: String,
    /// Full name, lower case, no trailing dot.
    pub name: String,
    /// Content exactly as given (TXT: quoted or not).
    pub content: String,
    /// TTL (1 = the host's "automatic", served as 300).
    pub ttl: u32,
    /// Comment, if any.
    pub comment: Option<String>,
    /// When created (RFC 3339).
    pub created: String,
}

/// An API token known to a fake: the zones it may touch, and whether it may list zones and
/// change records (the scopes most hosts' tokens have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToken {
    /// The token.
    pub token: String,
    /// Zone names it may touch (`None`: every zone).
    pub zones: Option<Vec<String>>,
    /// May read zones (e.g. Cloudflare's Zone:Zone:Read, needed to list them).
    pub zone_read: bool,
    /// May change records (e.g. Cloudflare's Zone:DNS:Edit; reading them needs only the zone).
    pub dns_edit: bool,
}

impl FakeToken {
    /// A token that may do everything in every zone.
    pub fn full(token: &str) -> Self {
        FakeToken {
            token: token.to_owned(),
            zones: None,
            zone_read: true,
            dns_edit: true,
        }
    }

    /// True when the token may touch `zone`.
    pub fn may(&self, zone: &str) -> bool {
        let listed = |z: &Vec<String>| z.iter().any(|n| n.eq_ignore_ascii_case(&dns_name(zone)));
        self.zones.as_ref().is_none_or(listed)
    }
}

/// A name as fakes keep it: lower case, no surrounding blanks, no trailing dot.
pub fn dns_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `name` made absolute in `zone` as hosts that take relative names do (`@` and `zone` are the
/// apex, `x` and `x.zone` are `x.zone`), lower case; `None` unless a valid DNS name (no empty
/// label, labels up to 63 octets, 253 in all).
pub fn absolute_name(name: &str, zone: &str) -> Option<String> {
    let (n, zone) = (dns_name(name), dns_name(zone));
    let full = match n.as_str() {
        "@" => zone,
        _ if n == zone || n.ends_with(&format!(".{zone}")) => n,
        _ => format!("{n}.{zone}"),
    };
    let labels_ok = full.split('.').all(|l| (1..=63).contains(&l.len()));
    (labels_ok && full.len() <= 253).then_some(full)
}

/// A fresh 32-hex id.
pub fn hex_id() -> Result<String> {
    random_id(32, b"0123456789abcdef")
}

impl FakeRecord {
    /// A new record in `zone` (fresh id, created now); `name` made lower case without the dot.
    pub fn new(zone: &FakeZone, rtype: &str, name: &str, content: &str, ttl: u32) -> Result<Self> {
        Ok(FakeRecord {
            id: hex_id()?,
            zone_id: zone.id.clone(),
            zone_name: zone.name.clone(),
            rtype: rtype.to_ascii_uppercase(),
            name: dns_name(name),
            content: content.to_owned(),
            ttl,
            comment: None,
            created: now_rfc3339(),
        })
    }
}

/// The zones and records of a fake, and where their TXT sets are served.
#[derive(Debug, Clone, Default)]
pub struct RecordStore {
    /// Zones, in the order added.
    pub zones: Vec<FakeZone>,
    /// Records, in creation order.
    pub records: Vec<FakeRecord>,
    /// Where TXT changes go (`None`: the fake only).
    pub mirror: Option<ZoneMirror>,
}

impl RecordStore {
    /// Zones named `zones` (fresh ids), no records.
    pub fn new(zones: &[String], mirror: Option<ZoneMirror>) -> Result<RecordStore> {
        let mut store = RecordStore {
            mirror,
            ..RecordStore::default()
        };
        for z in zones {
            store.add_zone(z)?;
        }
        Ok(store)
    }

    /// Add a zone; returns its id.
    pub fn add_zone(&mut self, name: &str) -> Result<String> {
        let id = hex_id()?;
        let name = dns_name(name);
        self.zones.push(FakeZone {
            id: id.clone(),
            name,
        });
        Ok(id)
    }

    /// The zone with this id.
    pub fn zone(&self, id: &str) -> Option<&FakeZone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The zone with this name (any case, trailing dot or not).
    pub fn zone_named(&self, name: &str) -> Option<&FakeZone> {
        let n = dns_name(name);
        self.zones.iter().find(|z| z.name == n)
    }

    /// The records of the zone named `zone`, in creation order.
    pub fn in_zone(&self, zone: &str) -> Vec<FakeRecord> {
        let z = dns_name(zone);
        let mine = self.records.iter().filter(|r| r.zone_name == z);
        mine.cloned().collect()
    }

    /// The record `id` of zone `zone_id`.
    pub fn find(&self, zone_id: &str, id: &str) -> Option<&FakeRecord> {
        let mut mine = self.records.iter();
        mine.find(|r| r.zone_id == zone_id && r.id == id)
    }

    /// TXT contents (unquoted, sorted) at `name`.
    pub fn txt_values(&self, name: &str) -> Vec<String> {
        let n = dns_name(name);
        let txt = self
            .records
            .iter()
            .filter(|r| r.rtype == "TXT" && r.name == n);
        let mut v: Vec<String> = txt.map(|r| unquote_txt(&r.content)).collect();
        v.sort();
        v
    }

    /// True when another record of `rec`'s zone (another id) has its type, name and content
    /// (TXT compared without quotes, other types without case): what hosts refuse as a
    /// duplicate.
    pub fn identical(&self, rec: &FakeRecord) -> bool {
        let txt = rec.rtype == "TXT";
        let same = |c: &str| match txt {
            true => unquote_txt(c),
            false => c.to_ascii_lowercase(),
        };
        self.records.iter().any(|r| {
            let twin = r.zone_id == rec.zone_id && r.rtype == rec.rtype && r.name == rec.name;
            twin && r.id != rec.id && same(&r.content) == same(&rec.content)
        })
    }

    /// Replace record `old` by `new` in place, remove it (`new` None), or append `new`.
    pub fn put(&mut self, old: Option<&str>, new: Option<FakeRecord>) {
        let at = old.and_then(|id| self.records.iter().position(|r| r.id == id));
        match (at, new) {
            (Some(i), Some(n)) => self.records[i] = n,
            (Some(i), None) => drop(self.records.remove(i)),
            (None, Some(n)) => self.records.push(n),
            (None, None) => {}
        }
    }

    /// [`RecordStore::put`] as an [`RecordStore::edit`]: mirrored first, kept only then.
    pub fn change(&mut self, old: Option<&str>, new: Option<FakeRecord>) -> Result<()> {
        self.edit(|s| {
            s.put(old, new);
            Ok(())
        })
    }

    /// Run `f` on a copy; when it succeeds, put every TXT set it changed into the mirror,
    /// then keep the copy. All or nothing: a failure (of `f` or of DNS) changes nothing.
    pub fn edit<T, E: From<KitError>>(
        &mut self,
        f: impl FnOnce(&mut RecordStore) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut next = self.clone();
        let out = f(&mut next)?;
        if let Some(m) = &self.mirror {
            let (before, after) = (txt_sets(&self.records), txt_sets(&next.records));
            let mut changed: Vec<(String, u32, Vec<String>)> = Vec::new();
            for name in before.keys().chain(after.keys()) {
                if before.get(name) != after.get(name) && !changed.iter().any(|c| &c.0 == name) {
                    let (ttl, rdata) = after.get(name).cloned().unwrap_or((300, Vec::new()));
                    changed.push((name.clone(), ttl, rdata));
                }
            }
            m.set_txt(&changed)?;
        }
        *self = next;
        Ok(out)
    }
}

/// TXT data as one presentation-form string: as given when already quoted (`"a" "b"`),
/// otherwise quoted here (`"` and `\` escaped).
pub fn txt_rdata(content: &str) -> String {
    let t = content.trim();
    if t.starts_with('"') {
        return t.to_owned();
    }
    let mut s = String::from('"');
    for c in t.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// TXT content without its quotes (`"a" "b"` → `ab`); unquoted content as it is.
pub fn unquote_txt(content: &str) -> String {
    let t = content.trim();
    if !t.starts_with('"') {
        return t.to_owned();
    }
    let (mut out, mut in_q, mut chars) = (String::new(), false, t.chars());
    while let Some(c) = chars.next() {
        match c {
            '"' => in_q = !in_q,
            '\\' if in_q => out.extend(chars.next()),
            c if in_q => out.push(c),
            _ => {}
        }
    }
    out
}

/// Where a fake's TXT records land: a BIND primary taking TSIG-signed RFC 2136 updates for
/// `zones` (names outside them stay in the fake only).
#[derive(Debug, Clone)]
pub struct ZoneMirror {
    /// The primary (address and port).
    pub server: SocketAddr,
    /// A BIND key file (`tsig-keygen` output) allowed to change TXT records.
    pub key_file: PathBuf,
    /// The zones the primary serves, lower case, no trailing dot.
    pub zones: Vec<String>,
}

impl ZoneMirror {
    /// The topology's hidden primary, its zones and its TSIG key.
    pub fn of(topo: &BindTopology) -> ZoneMirror {
        ZoneMirror {
            server: topo.primary_addr(),
            key_file: topo.tsig_key_file_path().to_owned(),
            zones: topo.zones().to_vec(),
        }
    }

    /// The served zone holding `name` (the longest match).
    pub fn zone_of(&self, name: &str) -> Option<&str> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        self.zones
            .iter()
            .filter(|z| n == **z || n.ends_with(&format!(".{z}")))
            .max_by_key(|z| z.len())
            .map(String::as_str)
    }

    /// Make each TXT RRset `(name, ttl, rdata)` exactly `rdata` (presentation form, see
    /// [`txt_rdata`]; empty: none), one UPDATE per zone, all in one `nsupdate` run bounded by
    /// its 5 s per exchange. Names outside the zones are skipped.
    pub fn set_txt(&self, sets: &[(String, u32, Vec<String>)]) -> Result<()> {
        let mut script = String::new();
        for zone in &self.zones {
            let mine: Vec<_> = sets
                .iter()
                .filter(|(n, ..)| self.zone_of(n) == Some(zone))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let _ = writeln!(
                script,
                "server {} {}\nzone {zone}.",
                self.server.ip(),
                self.server.port()
            );
            for (name, ttl, rdata) in mine {
                let name = name.trim_end_matches('.');
                let _ = writeln!(script, "update delete {name}. TXT");
                for r in rdata {
                    let _ = writeln!(script, "update add {name}. {ttl} TXT {r}");
                }
            }
            script.push_str("send\n");
        }
        if script.is_empty() {
            return Ok(());
        }
        nsupdate_blocking(&self.key_file, &script)
    }
}

/// The state of a record-API fake: it holds a [`RecordStore`]. Its [`FakeServer`] then offers
/// what every such fake's tests need (zone ids, records, TXT values, a foreign record).
pub trait HoldsRecords {
    /// The fake's zones and records.
    fn store(&mut self) -> &mut RecordStore;
}

impl<S: HoldsRecords> FakeServer<S> {
    /// The id of a zone by name.
    pub fn zone_id(&self, zone: &str) -> Option<String> {
        self.with(|st| Some(st.store().zone_named(zone)?.id.clone()))
    }

    /// Every record of a zone, in creation order.
    pub fn records(&self, zone: &str) -> Vec<FakeRecord> {
        self.with(|st| st.store().in_zone(zone))
    }

    /// TXT contents (unquoted, sorted) at `name`.
    pub fn txt_values(&self, name: &str) -> Vec<String> {
        self.with(|st| st.store().txt_values(name))
    }

    /// Create a record directly (as a user of the host's dashboard would), mirrored to DNS
    /// like an API create; `content` as the host stores it (TXT: quoted or not). Returns its id.
    pub fn seed_record(
        &self,
        zone: &str,
        rtype: &str,
        name: &str,
        content: &str,
        ttl: u32,
    ) -> Result<String> {
        self.with(|st| {
            let no_zone = || KitError(format!("the fake has no zone {zone}"));
            let zone = st.store().zone_named(zone).cloned().ok_or_else(no_zone)?;
            let rec = FakeRecord::new(&zone, rtype, name, content, ttl)?;
            st.store().change(None, Some(rec.clone()))?;
            Ok(rec.id)
        })
    }
}

/// TXT sets by name: the first record's TTL (1 served as 300) and the sorted data.
fn txt_sets(records: &[FakeRecord]) -> BTreeMap<String, (u32, Vec<String>)> {
    let mut sets: BTreeMap<String, (u32, Vec<String>)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.rtype == "TXT") {
        let ttl = if r.ttl == 1 { 300 } else { r.ttl };
        let set = sets.entry(r.name.clone()).or_insert((ttl, Vec::new()));
        set.1.push(txt_rdata(&r.content));
        set.1.sort();
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_all_or_nothing() {
        let mut s = RecordStore::new(&["Example.Test.".into()], None).expect("store");
        let zone = s.zone_named("example.test").cloned().expect("zone");
        assert_eq!(s.zone(&zone.id), Some(&zone));
        let a = FakeRecord::new(&zone, "txt", "_acme-challenge.example.test.", "\"a\"", 1)
            .expect("record");
        let id = a.id.clone();
        let kept = s.edit(|s| {
            s.put(None, Some(a.clone()));
            Ok::<_, KitError>(s.records.len())
        });
        assert_eq!(kept, Ok(1));
        let failed = s.edit(|s| {
            s.put(Some(&id), None);
            Err::<(), _>(KitError::new("refused"))
        });
        assert!(failed.is_err());
        assert_eq!(s.txt_values("_ACME-challenge.example.test"), ["a"]);
        let b =
            FakeRecord::new(&zone, "TXT", "_acme-challenge.example.test", "b", 60).expect("record");
        s.edit(|s| {
            s.put(
                Some(&id),
                Some(FakeRecord {
                    id: id.clone(),
                    ..b
                }),
            );
            Ok::<_, KitError>(())
        })
        .expect("replaced");
        assert_eq!(s.in_zone("example.test").len(), 1);
        assert_eq!(s.find(&zone.id, &id).map(|r| r.ttl), Some(60));
        let twin = FakeRecord::new(&zone, "TXT", "_acme-challenge.example.test", "\"b\"", 1)
            .expect("record");
        assert!(s.identical(&twin));
        assert!(!s.identical(&FakeRecord {
            id: id.clone(),
            ..twin
        }));
        assert_eq!(
            absolute_name("@", "Example.Test."),
            Some("example.test".into())
        );
        assert_eq!(
            absolute_name("x.example.test.", "example.test").as_deref(),
            Some("x.example.test")
        );
        assert_eq!(
            absolute_name("_acme-challenge", "example.test").as_deref(),
            Some("_acme-challenge.example.test")
        );
        assert_eq!(absolute_name("a..b", "example.test"), None);
        assert_eq!(absolute_name(&"x".repeat(64), "example.test"), None);
        let sets = txt_sets(&s.records);
        assert_eq!(
            sets["_acme-challenge.example.test"],
            (60, vec!["\"b\"".into()])
        );
    }

    #[test]
    fn token_scopes() {
        let scoped = FakeToken {
            zones: Some(vec!["example.test".into()]),
            ..FakeToken::full("t")
        };
        assert!(scoped.may("Example.Test.") && !scoped.may("other.test"));
        assert!(FakeToken::full("t").may("other.test"));
    }

    #[test]
    fn txt_data_and_the_mirror_zones() {
        assert_eq!(unquote_txt("\"a\" \"b\\\"\""), "ab\"");
        assert_eq!(unquote_txt(" plain "), "plain");
        assert_eq!(txt_rdata("v\"1"), "\"v\\\"1\"");
        assert_eq!(txt_rdata("\"q\""), "\"q\"");
        let m = ZoneMirror {
            server: "127.0.0.1:53".parse().expect("addr"),
            key_file: PathBuf::new(),
            zones: vec!["test".into(), "example.test".into()],
        };
        assert_eq!(
            m.zone_of("_acme-challenge.Example.Test."),
            Some("example.test")
        );
        assert_eq!(m.zone_of("other.org"), None);
        // Nothing served: nothing to run (no nsupdate needed).
        assert!(
            m.set_txt(&[("x.other.org".into(), 60, vec!["\"v\"".into()])])
                .is_ok()
        );
    }
}
