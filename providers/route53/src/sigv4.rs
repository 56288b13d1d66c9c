//! AWS Signature Version 4 (header signing) with ring: canonical request, string to sign,
//! signing key, `Authorization` header.
//!
//! Reference: AWS General Reference, "Signature Version 4 signing process" (create a canonical
//! request, create a string to sign, calculate the signature, add it to the request).
//! This is the only module of the crate that names ring.

use ring::{digest, hmac};
use wildcert_provider::Secret;

/// The signing algorithm name, first word of the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// AWS credentials: an access key pair and, for temporary credentials, a session token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (`AKIA…`/`ASIA…`); not a secret, it appears in the `Authorization` header.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token of temporary credentials (sent as `x-amz-security-token`, signed).
    pub session_token: Option<Secret>,
}

/// One HTTP request to sign.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Absolute path, not yet percent-encoded (each segment is encoded when canonicalised).
    pub path: &'a str,
    /// Query parameters, not yet percent-encoded.
    pub query: &'a [(String, String)],
    /// Headers to sign besides `x-amz-date` and `x-amz-security-token` (`host` is required).
    pub headers: &'a [(String, String)],
    /// The request body.
    pub body: &'a [u8],
}

/// Percent-encode per RFC 3986 as SigV4 wants it: unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) stay, every other byte becomes `%XX` (upper-case hex).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical (and wire) query string: parameters encoded, sorted by key then value, joined by `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// Every header that gets signed: the request's, plus `x-amz-date` and the session token.
fn signed_header_list(
    req: &Request<'_>,
    amz_date: &str,
    creds: &Credentials,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.push(("x-amz-date".into(), amz_date.into()));
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), t.expose().trim().to_string()));
    }
    headers.sort();
    headers
}

/// Step 1: the canonical request, and the `SignedHeaders` list.
pub fn canonical_request(
    req: &Request<'_>,
    amz_date: &str,
    creds: &Credentials,
) -> (String, String) {
    let headers = signed_header_list(req, amz_date, creds);
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if req.path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(req.path, true)
    };
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        path,
        canonical_query(req.query),
        canonical_headers,
        signed,
        sha256_hex(req.body)
    );
    (text, signed)
}

/// The credential scope: `YYYYMMDD/region/service/aws4_request`.
pub fn scope(amz_date: &str, region: &str, service: &str) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    format!("{date}/{region}/{service}/aws4_request")
}

/// Step 2: the string to sign.
pub fn string_to_sign(canonical_request: &str, amz_date: &str, scope: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Step 3: the signing key (`kSigning`) and the hex signature of `string_to_sign`.
pub fn signature(
    secret: &Secret,
    amz_date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let k_date = hmac_sha256(
        format!("AWS4{}", secret.expose()).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(k_date.as_ref(), region.as_bytes());
    let k_service = hmac_sha256(k_region.as_ref(), service.as_bytes());
    let k_signing = hmac_sha256(k_service.as_ref(), b"aws4_request");
    hex(hmac_sha256(k_signing.as_ref(), string_to_sign.as_bytes()).as_ref())
}

/// Sign `req`; returns the headers to add: `x-amz-date`, `x-amz-security-token` (when the
/// credentials carry one) and `authorization`.
///
/// `amz_date` is the request time as `YYYYMMDDTHHMMSSZ` (see [`amz_date`]).
pub fn sign(
    req: &Request<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let (canonical, signed_headers) = canonical_request(req, amz_date, creds);
    let scope = scope(amz_date, region, service);
    let sts = string_to_sign(&canonical, amz_date, &scope);
    let sig = signature(&creds.secret_access_key, amz_date, region, service, &sts);
    let mut out = vec![("x-amz-date".to_string(), amz_date.to_string())];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token".into(), t.expose().trim().to_string()));
    }
    out.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={sig}",
            creds.access_key_id
        ),
    ));
    out
}

/// Format a time as SigV4's `x-amz-date`: `YYYYMMDDTHHMMSSZ` (UTC).
pub fn amz_date(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_creds() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn authorization(signed: &[(String, String)]) -> &str {
        signed
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Research §2 golden vector: byte-identical to aws-sigv4 1.6.4 for this request.
    #[test]
    fn golden_change_resource_record_sets() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"a"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;
        let headers = h(&[
            ("content-type", "application/xml"),
            ("host", "route53.amazonaws.com"),
        ]);
        let req = Request {
            method: "POST",
            path: "/2013-04-01/hostedzone/Z123/rrset",
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        };
        let signed = sign(
            &req,
            &example_creds(),
            "us-east-1",
            "route53",
            "20231114T221320Z",
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/route53/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=bc3b26c4d64ea905b3d7c88ba2b399c1a5e61368f466775509dd676d5ec87db6"
        );
        assert!(signed.iter().all(|(k, _)| k != "x-amz-security-token"));
    }

    /// AWS SigV4 test suite, `get-vanilla`.
    #[test]
    fn aws_suite_get_vanilla() {
        let headers = h(&[("Host", "example.amazonaws.com")]);
        let req = Request {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let (canonical, signed_headers) =
            canonical_request(&req, "20150830T123600Z", &example_creds());
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed_headers, "host;x-amz-date");
        let signed = sign(
            &req,
            &example_creds(),
            "us-east-1",
            "service",
            "20150830T123600Z",
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// A GET with a query string and a session token.
    ///
    /// Expected value computed independently with Python's stdlib (hashlib/hmac) by a one-off
    /// script following the AWS documentation step by step: canonical query
    /// `dnsname=_acme-challenge.ex~ample.com.&maxitems=10&name=a%20b%2Fc%2A` (keys sorted, RFC 3986
    /// encoding, `~` kept), headers `host`, `x-amz-date`, `x-amz-security-token`, empty-body hash,
    /// then the four-step HMAC key for 20150830/us-east-1/route53.
    #[test]
    fn query_string_and_session_token() {
        let headers = h(&[("host", "route53.amazonaws.com")]);
        let query = h(&[
            ("name", "a b/c*"),
            ("maxitems", "10"),
            ("dnsname", "_acme-challenge.ex~ample.com."),
        ]);
        let creds = Credentials {
            session_token: Some(Secret::new("FQoGZXIvYXdzEXAMPLETOKEN")),
            ..example_creds()
        };
        let req = Request {
            method: "GET",
            path: "/2013-04-01/hostedzonesbyname",
            query: &query,
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            canonical_query(&query),
            "dnsname=_acme-challenge.ex~ample.com.&maxitems=10&name=a%20b%2Fc%2A"
        );
        let signed = sign(&req, &creds, "us-east-1", "route53", "20150830T123600Z");
        assert_eq!(
            signed
                .iter()
                .find(|(k, _)| k == "x-amz-security-token")
                .map(|(_, v)| v.as_str()),
            Some("FQoGZXIvYXdzEXAMPLETOKEN")
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/route53/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=2beaf130c2bdf5da8ee20893a45c0e3f3aac641a73672157cb9c2ecbca2b47dd"
        );
    }

    #[test]
    fn date_format() {
        let t = time::macros::datetime!(2023-11-14 22:13:20 UTC);
        assert_eq!(amz_date(t), "20231114T221320Z");
        assert_eq!(
            scope("20231114T221320Z", "us-east-1", "route53"),
            "20231114/us-east-1/route53/aws4_request"
        );
    }
}
