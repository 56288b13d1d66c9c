//! Validated DNS names (RFC 1035 §2.3.4 limits, IDNA A-labels) and certificate identifiers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Longest presentation form of a name without the trailing dot (RFC 1035 §2.3.4: 255 octets on the wire).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name was refused. Each message names the input and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The input was empty (or only a dot).
    #[error("empty DNS name")]
    Empty,
    /// A label between two dots was empty (`a..b`, leading dot).
    #[error("`{0}`: empty label (two dots in a row, or a leading dot)")]
    EmptyLabel(String),
    /// A label was longer than 63 octets.
    #[error("`{0}`: label `{1}` is longer than 63 characters")]
    LabelTooLong(String, String),
    /// The name was longer than 253 characters.
    #[error("`{0}`: name is longer than 253 characters")]
    TooLong(String),
    /// A label held a character DNS host names cannot carry.
    #[error("`{0}`: label `{1}` has a character that is not a letter, digit or hyphen")]
    BadCharacter(String, String),
    /// A label began or ended with a hyphen.
    #[error("`{0}`: label `{1}` starts or ends with a hyphen")]
    Hyphen(String, String),
    /// A `*` anywhere but as the whole left-most label.
    #[error(
        "`{0}`: a wildcard is allowed only as the whole left-most label, as in `*.example.com`"
    )]
    BadWildcard(String),
    /// An IP address: DNS-01 cannot validate those (RFC 8738 needs http-01 or tls-alpn-01).
    #[error("`{0}` is an IP address: the dns-01 challenge can only validate DNS names")]
    IpAddress(String),
    /// IDNA (Unicode) conversion failed.
    #[error("`{0}`: not a valid internationalised name (IDNA): {1}")]
    Idna(String, String),
    /// A name with a single label (a TLD or a bare host) cannot be certified by a public CA.
    #[error("`{0}` has a single label; give a fully qualified name such as `host.example.com`")]
    SingleLabel(String),
}

/// A validated DNS name: lower case, A-labels only, no trailing dot, at most 253 characters.
///
/// Labels may start with `_` (as `_acme-challenge` does); use [`Identifier`] for names that go
/// into a certificate.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DnsName(String);

impl DnsName {
    /// Parse and normalise a name (case, trailing dot, IDNA to A-labels).
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let original = input;
        let trimmed = input.trim();
        let s = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.parse::<IpAddr>().is_ok() {
            return Err(NameError::IpAddress(original.to_string()));
        }
        if s.contains('*') {
            return Err(NameError::BadWildcard(original.to_string()));
        }
        let ascii = if s.is_ascii() {
            s.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(s)
                .map_err(|e| NameError::Idna(original.to_string(), e.to_string()))?
        };
        validate_labels(original, &ascii, true)?;
        Ok(DnsName(ascii))
    }

    /// Build from a parent name and one more left-most label (e.g. `_acme-challenge`).
    pub fn child(&self, label: &str) -> Result<Self, NameError> {
        DnsName::parse(&format!("{label}.{}", self.0))
    }

    /// The name without the trailing dot, e.g. `example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fully qualified form with the trailing dot, e.g. `example.com.`.
    pub fn to_fqdn(&self) -> String {
        format!("{}.", self.0)
    }

    /// The labels, left to right.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// Number of labels.
    pub fn label_count(&self) -> usize {
        self.0.split('.').count()
    }

    /// The parent name (one label less), or `None` for a single-label name.
    pub fn parent(&self) -> Option<DnsName> {
        self.0
            .split_once('.')
            .map(|(_, rest)| DnsName(rest.to_string()))
    }

    /// This name and every ancestor, longest first (`a.b.c`, `b.c`, `c`).
    pub fn ancestors(&self) -> impl Iterator<Item = DnsName> {
        std::iter::successors(Some(self.clone()), |n| n.parent())
    }

    /// True when `self` equals `zone` or lies below it.
    pub fn is_within(&self, zone: &DnsName) -> bool {
        self.0 == zone.0 || self.0.ends_with(&format!(".{}", zone.0))
    }
}

/// The zones an account can see, for a "zone not found" message: sorted, the first 20, then
/// `… (N in all)`; `none` when there are none. Names only, never ids.
pub fn zone_listing<'a>(zones: impl IntoIterator<Item = &'a DnsName>) -> String {
    let mut names: Vec<String> = zones.into_iter().map(ToString::to_string).collect();
    names.sort();
    match names.len() {
        0 => "none".to_string(),
        n if n > 20 => format!("{}, … ({n} in all)", names[..20].join(", ")),
        _ => names.join(", "),
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({})", self.0)
    }
}

impl FromStr for DnsName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DnsName::parse(s)
    }
}

impl serde::Serialize for DnsName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DnsName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DnsName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A name that goes into a certificate: a host name, optionally a wildcard (`*.example.com`).
///
/// Host-name rules (letters, digits, hyphen; no underscore), at least two labels, wildcard only
/// as the whole left-most label, IP addresses refused (dns-01 cannot validate them).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identifier {
    base: DnsName,
    wildcard: bool,
}

impl Identifier {
    /// Parse and normalise a certificate name such as `*.Example.COM.` or `bücher.example`.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        let (wildcard, rest) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None if trimmed == "*" => return Err(NameError::BadWildcard(input.to_string())),
            None => (false, trimmed),
        };
        if rest.contains('*') {
            return Err(NameError::BadWildcard(input.to_string()));
        }
        let base = DnsName::parse(rest).map_err(|e| reword(e, input))?;
        // Certificate names are host names: no underscores (RFC 5280 dNSName / CA/B BR).
        validate_labels(input, base.as_str(), false)?;
        if base.label_count() < 2 {
            return Err(NameError::SingleLabel(input.to_string()));
        }
        Ok(Identifier { base, wildcard })
    }

    /// True for `*.example.com`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The name without any `*.` prefix: the name whose `_acme-challenge` label is validated.
    pub fn base(&self) -> &DnsName {
        &self.base
    }

    /// `_acme-challenge.<base>` (RFC 8555 §8.4): where the dns-01 TXT record goes.
    pub fn challenge_name(&self) -> DnsName {
        DnsName(format!("_acme-challenge.{}", self.base.as_str()))
    }

    /// The ACME identifier value, e.g. `*.example.com`.
    pub fn as_acme(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.base)
        } else {
            write!(f, "{}", self.base)
        }
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identifier({self})")
    }
}

impl FromStr for Identifier {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Identifier::parse(s)
    }
}

impl serde::Serialize for Identifier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Identifier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Identifier::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Keep the user's original input (with its `*.`) in error messages.
fn reword(e: NameError, input: &str) -> NameError {
    let i = input.to_string();
    match e {
        NameError::EmptyLabel(_) => NameError::EmptyLabel(i),
        NameError::LabelTooLong(_, l) => NameError::LabelTooLong(i, l),
        NameError::TooLong(_) => NameError::TooLong(i),
        NameError::BadCharacter(_, l) => NameError::BadCharacter(i, l),
        NameError::Hyphen(_, l) => NameError::Hyphen(i, l),
        NameError::BadWildcard(_) => NameError::BadWildcard(i),
        NameError::IpAddress(_) => NameError::IpAddress(i),
        NameError::Idna(_, m) => NameError::Idna(i, m),
        other => other,
    }
}

fn validate_labels(original: &str, ascii: &str, allow_underscore: bool) -> Result<(), NameError> {
    if ascii.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(original.to_string()));
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel(original.to_string()));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong(
                original.to_string(),
                label.to_string(),
            ));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || (allow_underscore && c == '_');
        if !label.chars().all(ok) {
            return Err(NameError::BadCharacter(
                original.to_string(),
                label.to_string(),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::Hyphen(original.to_string(), label.to_string()));
        }
        // Certificate names: an A-label must be valid punycode that IDNA maps back to itself
        // (a CA refuses it otherwise, after we published records for it).
        if !allow_underscore && label.starts_with("xn--") {
            let (unicode, decoded) = idna::domain_to_unicode(label);
            let canonical = decoded
                .ok()
                .and_then(|()| idna::domain_to_ascii(&unicode).ok())
                .is_some_and(|back| back == label);
            if !canonical {
                return Err(NameError::Idna(
                    original.to_string(),
                    format!("label `{label}` is not a valid IDNA A-label (punycode)"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn zone_listing_is_sorted_and_bounded() {
        let n = |s: &str| DnsName::parse(s).expect("name");
        assert_eq!(zone_listing([]), "none");
        assert_eq!(zone_listing(&[n("b.test"), n("a.test")]), "a.test, b.test");
        let many: Vec<DnsName> = (0..25).map(|i| n(&format!("z{i:02}.test"))).collect();
        let l = zone_listing(&many);
        assert!(
            l.starts_with("z00.test, z01.test") && l.ends_with("z19.test, … (25 in all)"),
            "{l}"
        );
    }
    use super::*;

    #[test]
    fn bad_a_labels_are_refused() {
        assert!(Identifier::parse("xn--bcher-kva.example").is_ok());
        assert!(Identifier::parse("xn--.example").is_err());
        for bad in ["xn--zz.example", "xn--a.example", "xn--bcher-kvb.example"] {
            assert!(
                matches!(Identifier::parse(bad), Err(NameError::Idna(..))),
                "{bad}: {:?}",
                Identifier::parse(bad)
            );
        }
        // Plain DNS names (e.g. CNAME targets) are not judged.
        assert!(DnsName::parse("_acme-challenge.xn--zz.example").is_ok());
    }

    #[test]
    fn normalises_case_dot_and_idna() {
        assert_eq!(
            DnsName::parse("Example.COM.").map(|n| n.to_string()),
            Ok("example.com".into())
        );
        assert_eq!(
            Identifier::parse("*.Bücher.example").map(|n| n.to_string()),
            Ok("*.xn--bcher-kva.example".into())
        );
        assert_eq!(
            DnsName::parse("a.b").map(|n| n.to_fqdn()),
            Ok("a.b.".into())
        );
    }

    #[test]
    fn wildcard_only_as_whole_leftmost_label() {
        assert!(Identifier::parse("*.example.com").is_ok_and(|i| i.is_wildcard()));
        for bad in [
            "*.*.example.com",
            "a.*.example.com",
            "*",
            "*example.com",
            "f*.example.com",
        ] {
            assert!(
                matches!(
                    Identifier::parse(bad),
                    Err(NameError::BadWildcard(_) | NameError::BadCharacter(..))
                ),
                "{bad} should be refused: {:?}",
                Identifier::parse(bad)
            );
        }
    }

    #[test]
    fn refuses_bad_shapes() {
        assert_eq!(Identifier::parse(""), Err(NameError::Empty));
        assert!(matches!(
            Identifier::parse("a..example.com"),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            Identifier::parse(".example.com"),
            Err(NameError::EmptyLabel(_))
        ));
        let long = "a".repeat(64);
        assert!(matches!(
            Identifier::parse(&format!("{long}.com")),
            Err(NameError::LabelTooLong(..))
        ));
        let name = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(
            Identifier::parse(&name),
            Err(NameError::TooLong(_))
        ));
        assert!(matches!(
            Identifier::parse("192.0.2.1"),
            Err(NameError::IpAddress(_))
        ));
        assert!(matches!(
            Identifier::parse("2001:db8::1"),
            Err(NameError::IpAddress(_))
        ));
        assert!(matches!(
            Identifier::parse("exa mple.com"),
            Err(NameError::BadCharacter(..))
        ));
        assert!(matches!(
            Identifier::parse("-a.example.com"),
            Err(NameError::Hyphen(..))
        ));
        assert!(matches!(
            Identifier::parse("_x.example.com"),
            Err(NameError::BadCharacter(..))
        ));
        assert!(matches!(
            Identifier::parse("localhost"),
            Err(NameError::SingleLabel(_))
        ));
        assert!(matches!(
            Identifier::parse("example.com/x"),
            Err(NameError::BadCharacter(..))
        ));
    }

    #[test]
    fn challenge_name_and_ancestors() {
        let id = Identifier::parse("*.sub.example.com").expect("valid");
        assert_eq!(
            id.challenge_name().as_str(),
            "_acme-challenge.sub.example.com"
        );
        let names: Vec<String> = id
            .challenge_name()
            .ancestors()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "_acme-challenge.sub.example.com",
                "sub.example.com",
                "example.com",
                "com"
            ]
        );
        let zone = DnsName::parse("example.com").expect("valid");
        assert!(id.challenge_name().is_within(&zone));
        assert!(
            !DnsName::parse("notexample.com")
                .expect("valid")
                .is_within(&zone)
        );
    }
}
