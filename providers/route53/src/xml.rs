//! Route53's XML: the `ChangeResourceRecordSetsRequest` we send (formatted by hand, escaped),
//! the responses and errors we read (quick-xml + serde), and what an error answer means to the
//! retry policy ([`verdict`]).
//!
//! API reference: Amazon Route 53 API, version 2013-04-01.

use serde::Deserialize;
use wildcert_provider::http::{self, Response, Verdict};

/// XML namespace of the 2013-04-01 API.
pub const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// What a change does to an RRset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create or replace the whole RRset.
    Upsert,
    /// Delete the RRset; values and TTL must match the current ones exactly.
    Delete,
}

impl Action {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        }
    }
}

/// One change of a batch: a TXT RRset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// UPSERT or DELETE.
    pub action: Action,
    /// Owner name, fully qualified with the trailing dot.
    pub name: String,
    /// TTL (seconds).
    pub ttl: u32,
    /// Values in Route53's presentation form (quoted: `"token"`).
    pub values: Vec<String>,
}

/// The `ChangeResourceRecordSetsRequest` body: one batch carrying every change.
pub fn change_batch(changes: &[Change]) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{NAMESPACE}"><ChangeBatch><Changes>"#
    );
    for c in changes {
        out.push_str("<Change><Action>");
        out.push_str(c.action.as_str());
        out.push_str("</Action><ResourceRecordSet><Name>");
        out.push_str(&quick_xml::escape::partial_escape(&c.name));
        out.push_str("</Name><Type>TXT</Type><TTL>");
        out.push_str(&c.ttl.to_string());
        out.push_str("</TTL><ResourceRecords>");
        for v in &c.values {
            out.push_str("<ResourceRecord><Value>");
            out.push_str(&quick_xml::escape::partial_escape(v));
            out.push_str("</Value></ResourceRecord>");
        }
        out.push_str("</ResourceRecords></ResourceRecordSet></Change>");
    }
    out.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    out
}

/// A TXT value in Route53's presentation form: quoted, `"` and `\` escaped, split into
/// 255-byte character-strings when longer.
pub use wildcert_provider::record::quote_txt;

/// The text of a TXT value in presentation form: character-strings joined, escapes
/// (`\"`, `\\`, and Route53's octal `\ooo`) resolved. Unquoted text is taken as it is.
pub fn unquote_txt(raw: &str) -> String {
    let raw = raw.trim();
    if !raw.starts_with('"') {
        return raw.to_string();
    }
    let mut out: Vec<u8> = Vec::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    let mut in_quotes = false;
    while i < bytes.len() {
        let b = bytes[i];
        match (in_quotes, b) {
            (false, b'"') => in_quotes = true,
            (false, _) => {}
            (true, b'"') => in_quotes = false,
            (true, b'\\') => {
                let digits = bytes
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
                if let Some(d) = digits {
                    let n =
                        (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                    i += 3;
                } else if let Some(&next) = bytes.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            }
            (true, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A name as Route53 prints it (`\052` for `*`, trailing dot) → lower case, no trailing dot.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name.trim();
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out.trim_end_matches('.').to_ascii_lowercase()
}

/// `ListHostedZonesByNameResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListHostedZonesByName {
    /// The zones, from `DNSName` onward in Route53's order.
    #[serde(default)]
    pub hosted_zones: HostedZones,
}

/// `<HostedZones>`.
#[derive(Debug, Default, Deserialize)]
pub struct HostedZones {
    /// The zones.
    #[serde(rename = "HostedZone", default)]
    pub items: Vec<HostedZone>,
}

/// One hosted zone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedZone {
    /// `/hostedzone/Z…`.
    pub id: String,
    /// Apex with the trailing dot.
    pub name: String,
    /// Zone configuration.
    #[serde(default)]
    pub config: Option<HostedZoneConfig>,
}

impl HostedZone {
    /// True for a private (VPC) zone.
    pub fn is_private(&self) -> bool {
        self.config
            .as_ref()
            .and_then(|c| c.private_zone)
            .unwrap_or(false)
    }
}

/// `<Config>` of a hosted zone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedZoneConfig {
    /// True for a private zone.
    #[serde(default)]
    pub private_zone: Option<bool>,
}

/// `ListResourceRecordSetsResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceRecordSets {
    /// The RRsets from the asked name/type onward.
    #[serde(default)]
    pub resource_record_sets: RecordSets,
}

/// `<ResourceRecordSets>`.
#[derive(Debug, Default, Deserialize)]
pub struct RecordSets {
    /// The RRsets.
    #[serde(rename = "ResourceRecordSet", default)]
    pub items: Vec<RecordSet>,
}

/// One RRset.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordSet {
    /// Owner name as Route53 prints it.
    pub name: String,
    /// Record type.
    #[serde(rename = "Type")]
    pub kind: String,
    /// TTL (absent for alias records).
    #[serde(rename = "TTL", default)]
    pub ttl: Option<u32>,
    /// Set identifier of weighted/latency/… routing records.
    #[serde(default)]
    pub set_identifier: Option<String>,
    /// The values.
    #[serde(default)]
    pub resource_records: ResourceRecords,
}

/// `<ResourceRecords>`.
#[derive(Debug, Default, Deserialize)]
pub struct ResourceRecords {
    /// The records.
    #[serde(rename = "ResourceRecord", default)]
    pub items: Vec<ResourceRecord>,
}

/// One value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRecord {
    /// Presentation form (`"token"` for TXT).
    pub value: String,
}

/// `ChangeResourceRecordSetsResponse` and `GetChangeResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeResponse {
    /// The change.
    pub change_info: ChangeInfo,
}

/// `<ChangeInfo>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeInfo {
    /// `/change/C…` (or bare, from some emulators).
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub status: String,
}

/// `/change/C123` or `C123` → `C123`.
pub fn normalize_change_id(id: &str) -> String {
    let id = id.trim().trim_start_matches('/');
    id.strip_prefix("change/").unwrap_or(id).to_string()
}

/// An error document: `<ErrorResponse><Error><Type/><Code/><Message/></Error>` or
/// `<InvalidChangeBatch><Messages><Message/>…</Messages>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiError {
    /// Error code (`Throttling`, `InvalidChangeBatch`, …); empty when the body was not understood.
    pub code: String,
    /// The message(s), joined.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InvalidChangeBatchBody {
    #[serde(default)]
    messages: Messages,
}

#[derive(Default, Deserialize)]
struct Messages {
    #[serde(rename = "Message", default)]
    items: Vec<String>,
}

/// Read an error body; `None` when it is no Route53 error document.
pub fn parse_error(body: &str) -> Option<ApiError> {
    if body.contains("<InvalidChangeBatch") {
        let b: InvalidChangeBatchBody = quick_xml::de::from_str(body).ok()?;
        return Some(ApiError {
            code: "InvalidChangeBatch".into(),
            message: b.messages.items.join("; "),
        });
    }
    let e: ErrorResponse = quick_xml::de::from_str(body).ok()?;
    Some(ApiError {
        code: e.error.code,
        message: e.error.message.unwrap_or_default(),
    })
}

/// Route53's classifier for the shared policy: throttling codes (HTTP 400 `Throttling` and
/// friends) and 429 are rate limits; `PriorRequestNotComplete` and 5xx are retried.
pub fn verdict(r: &Response) -> Verdict {
    if r.is_success() {
        return Verdict::Done;
    }
    let code = parse_error(&r.text()).map(|e| e.code).unwrap_or_default();
    match code.as_str() {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException" => Verdict::RateLimited(format!("{code}, HTTP {}", r.status)),
        "PriorRequestNotComplete" => Verdict::Retry,
        c if c.contains("Throttl") => Verdict::RateLimited(format!("{code}, HTTP {}", r.status)),
        _ => http::default_verdict(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_matches_golden_body() {
        let body = change_batch(&[Change {
            action: Action::Upsert,
            name: "_acme-challenge.example.com.".into(),
            ttl: 60,
            values: vec![quote_txt("a")],
        }]);
        assert_eq!(
            body,
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"a"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        let escaped = change_batch(&[Change {
            action: Action::Delete,
            name: "x.".into(),
            ttl: 1,
            values: vec![quote_txt("a<b&\"c")],
        }]);
        assert!(
            escaped.contains(r#"<Value>"a&lt;b&amp;\"c"</Value>"#),
            "{escaped}"
        );
    }

    #[test]
    fn txt_quoting_round_trips() {
        for v in ["abc", "with \"quotes\" and \\", &"x".repeat(600), ""] {
            assert_eq!(unquote_txt(&quote_txt(v)), v);
        }
        assert_eq!(quote_txt(&"y".repeat(300)).matches('"').count(), 4);
        assert_eq!(unquote_txt("\"a\" \"b\""), "ab");
        assert_eq!(unquote_txt("\"caf\\303\\251\""), "café");
        assert_eq!(unquote_txt("plain"), "plain");
        assert_eq!(normalize_name("\\052.Example.COM."), "*.example.com");
    }

    #[test]
    fn parses_responses_and_errors() {
        let zones: ListHostedZonesByName = quick_xml::de::from_str(
            r#"<?xml version="1.0"?><ListHostedZonesByNameResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZones><HostedZone><Id>/hostedzone/Z1</Id><Name>example.com.</Name><CallerReference>x</CallerReference><Config><Comment>c</Comment><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone><HostedZone><Id>/hostedzone/Z2</Id><Name>example.com.</Name><Config><PrivateZone>false</PrivateZone></Config></HostedZone></HostedZones><DNSName>example.com.</DNSName><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems></ListHostedZonesByNameResponse>"#,
        )
        .expect("zones");
        assert_eq!(zones.hosted_zones.items.len(), 2);
        assert!(zones.hosted_zones.items[0].is_private());
        assert!(!zones.hosted_zones.items[1].is_private());
        let empty: ListHostedZonesByName =
            quick_xml::de::from_str("<ListHostedZonesByNameResponse><HostedZones/><IsTruncated>false</IsTruncated></ListHostedZonesByNameResponse>").expect("empty");
        assert!(empty.hosted_zones.items.is_empty());

        let sets: ListResourceRecordSets = quick_xml::de::from_str(
            r#"<ListResourceRecordSetsResponse xmlns="x"><ResourceRecordSets><ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>120</TTL><ResourceRecords><ResourceRecord><Value>"one"</Value></ResourceRecord><ResourceRecord><Value>&quot;two&quot;</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"#,
        )
        .expect("sets");
        let s = &sets.resource_record_sets.items[0];
        assert_eq!((s.kind.as_str(), s.ttl), ("TXT", Some(120)));
        let values: Vec<&str> = s
            .resource_records
            .items
            .iter()
            .map(|r| r.value.as_str())
            .collect();
        assert_eq!(values, ["\"one\"", "\"two\""]);

        let change: ChangeResponse = quick_xml::de::from_str(
            "<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>PENDING</Status><SubmittedAt>2017-03-10T01:36:41.958Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>",
        )
        .expect("change");
        assert_eq!(
            normalize_change_id(&change.change_info.id),
            "C2682N5HXP0BZ4"
        );
        assert_eq!(normalize_change_id("C1"), "C1");

        let e = parse_error(r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"#).expect("error");
        assert_eq!(
            e,
            ApiError {
                code: "Throttling".into(),
                message: "Rate exceeded".into()
            }
        );
        let e = parse_error(r#"<?xml version="1.0"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete resource record set [name='x.', type='TXT'] but it was not found</Message></Messages><RequestId>r</RequestId></InvalidChangeBatch>"#).expect("icb");
        assert_eq!(e.code, "InvalidChangeBatch");
        assert!(e.message.contains("not found"));
        assert!(parse_error("<html>nope</html>").is_none());
    }
}
