//! TSIG keys (RFC 8945): algorithm names, BIND key files, signing requests and checking the
//! server's answer (done here with ring, so hmac-sha1 works and every TSIG error the server
//! sends back can be read and named).

use std::fmt;

use base64::Engine as _;
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::tsig::{
    TSIG, TsigAlgorithm, TsigError, make_tsig_record, message_tbs, signed_bitmessage_to_buf,
};
use ring::hmac;

/// Fudge (allowed clock difference) in seconds: RFC 8945 §10 recommends 300.
pub const FUDGE: u16 = 300;

/// The algorithms we sign with (RFC 8945 §6: hmac-sha1 and hmac-sha256 mandatory to
/// implement, hmac-sha1 not recommended; SHA-384/512 optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// hmac-sha1: accepted (lego's default, RFC 8945 requires support) with a warning.
    HmacSha1,
    /// hmac-sha256 (the default).
    HmacSha256,
    /// hmac-sha384.
    HmacSha384,
    /// hmac-sha512.
    HmacSha512,
}

impl Algorithm {
    /// Parse a name as users and tools write it: any case, with or without the trailing dot or
    /// the `hmac-` prefix (`HMAC-SHA256.`, `hmac-sha512`, `sha384`). Insecure or unsupported
    /// algorithms are refused with a message saying what to do.
    pub fn parse(input: &str) -> Result<Self, String> {
        let n = input.trim().trim_end_matches('.').to_ascii_lowercase();
        let core = n
            .strip_prefix("hmac-")
            .or_else(|| n.strip_prefix("hmac_"))
            .unwrap_or(&n);
        let fix = "generate a new key: tsig-keygen -a hmac-sha256 NAME";
        match core {
            "sha1" => Ok(Algorithm::HmacSha1),
            "sha256" => Ok(Algorithm::HmacSha256),
            "sha384" => Ok(Algorithm::HmacSha384),
            "sha512" => Ok(Algorithm::HmacSha512),
            "md5" | "md5.sig-alg.reg.int" => Err(format!(
                "hmac-md5 is insecure (MD5 is broken; RFC 8945 §6 says MUST NOT use) and not supported; {fix}, \
                 add it to the server's named.conf, grant it in update-policy, and point tsig_file at it"
            )),
            "sha224" => Err(format!("hmac-sha224 is not supported; {fix}")),
            c if c.starts_with("sha") && c.contains('-') => Err(format!(
                "truncated TSIG algorithm `{input}` is not supported; {fix}"
            )),
            "" => Err(
                "empty TSIG algorithm; use hmac-sha256, hmac-sha384, hmac-sha512 (or hmac-sha1)"
                    .into(),
            ),
            _ => Err(format!(
                "unknown TSIG algorithm `{input}`; use hmac-sha256, hmac-sha384, hmac-sha512 (or hmac-sha1)"
            )),
        }
    }

    /// The name BIND and RFC 8945 use, e.g. `hmac-sha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// True for algorithms RFC 8945 §6 does not recommend (hmac-sha1): warn when used.
    pub fn is_discouraged(self) -> bool {
        self == Algorithm::HmacSha1
    }

    fn hickory(self) -> TsigAlgorithm {
        match self {
            Algorithm::HmacSha1 => TsigAlgorithm::HmacSha1,
            Algorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
            Algorithm::HmacSha384 => TsigAlgorithm::HmacSha384,
            Algorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// Length of the MAC in bytes.
    pub fn mac_len(self) -> usize {
        self.ring().digest_algorithm().output_len()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TSIG key: name, algorithm, secret. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// Key name, lower case, no trailing dot (as in named.conf).
    pub name: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"***")
            .finish()
    }
}

impl TsigKey {
    /// Build a key from its name, algorithm and base64 secret.
    pub fn new(name: &str, algorithm: Algorithm, secret_b64: &str) -> Result<Self, String> {
        let name = normalise_key_name(name);
        if name.is_empty() {
            return Err("empty TSIG key name".into());
        }
        Name::from_ascii(format!("{name}."))
            .map_err(|e| format!("bad TSIG key name `{name}`: {e}"))?;
        let compact: String = secret_b64.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err(format!("empty TSIG secret for key `{name}`"));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| format!("the TSIG secret for key `{name}` is not valid base64 (copy it from the key file's `secret` line)"))?;
        Ok(TsigKey {
            name,
            algorithm,
            secret,
        })
    }

    fn key_name(&self) -> Result<Name, String> {
        Name::from_ascii(format!("{}.", self.name)).map_err(|e| format!("bad TSIG key name: {e}"))
    }

    /// Sign `msg` (RFC 8945 §4.3) at `now` (seconds since the epoch): adds the TSIG record and
    /// returns the wire bytes and the request MAC (needed to check the answer).
    pub fn sign(&self, msg: &mut Message, now: u64) -> Result<SignedRequest, String> {
        let key_name = self.key_name()?;
        let stub = TSIG::new(
            self.algorithm.hickory(),
            now,
            FUDGE,
            Vec::new(),
            msg.metadata.id,
            None,
            Vec::new(),
        );
        let tbs = message_tbs(&*msg, &stub, &key_name).map_err(|e| e.to_string())?;
        let key = hmac::Key::new(self.algorithm.ring(), &self.secret);
        let mac = hmac::sign(&key, &tbs).as_ref().to_vec();
        msg.set_signature(Box::new(make_tsig_record(
            key_name,
            stub.set_mac(mac.clone()),
        )));
        let bytes = msg.to_vec().map_err(|e| e.to_string())?;
        Ok(SignedRequest { bytes, mac })
    }

    /// Check the TSIG of an answer to a request signed with [`TsigKey::sign`] (RFC 8945 §5.3):
    /// what the server said about our signature, and whether its own is good.
    pub fn check_answer(&self, answer: &[u8], request_mac: &[u8], now: u64) -> AnswerAuth {
        let Ok(msg) = Message::from_vec(answer) else {
            return AnswerAuth::Unparsable;
        };
        let Some(sig) = msg.signature() else {
            return AnswerAuth::Unsigned;
        };
        let tsig = &sig.data;
        match tsig.error {
            Some(TsigError::BadSig) => return AnswerAuth::BadSig,
            Some(TsigError::BadKey) => return AnswerAuth::BadKey,
            Some(TsigError::BadTime) => {
                let server_time = (tsig.other.len() == 6).then(|| {
                    tsig.other
                        .iter()
                        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
                });
                return AnswerAuth::BadTime {
                    server_time,
                    our_time: tsig.time,
                };
            }
            Some(other) => return AnswerAuth::OtherError(u16::from(other)),
            None => {}
        }
        if tsig.mac.is_empty() {
            return AnswerAuth::Unsigned;
        }
        let Ok((tbs, rr)) = signed_bitmessage_to_buf(answer, Some(request_mac), true) else {
            return AnswerAuth::Unparsable;
        };
        let same_key = self
            .key_name()
            .is_ok_and(|n| rr.name.to_ascii().eq_ignore_ascii_case(&n.to_ascii()));
        if !same_key || rr.data.algorithm != self.algorithm.hickory() {
            return AnswerAuth::BadMac;
        }
        let key = hmac::Key::new(self.algorithm.ring(), &self.secret);
        if hmac::verify(&key, &tbs, &rr.data.mac).is_err() {
            return AnswerAuth::BadMac;
        }
        if now.abs_diff(rr.data.time) > u64::from(rr.data.fudge) {
            return AnswerAuth::BadMac;
        }
        AnswerAuth::Valid
    }
}

/// A request in wire form with its TSIG MAC.
#[derive(Clone)]
pub struct SignedRequest {
    /// The signed message.
    pub bytes: Vec<u8>,
    /// Our MAC, which the server's answer MAC covers.
    pub mac: Vec<u8>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// What the TSIG of the server's answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerAuth {
    /// Signed by the server with our key, MAC and time good: the server accepted the key.
    Valid,
    /// No TSIG (or an empty MAC without an error code): the server did not sign its answer.
    Unsigned,
    /// TSIG error BADSIG: the server knows the key but our MAC did not match (wrong secret).
    BadSig,
    /// TSIG error BADKEY: the server has no key of this name and algorithm.
    BadKey,
    /// TSIG error BADTIME: the clocks differ by more than the fudge.
    BadTime {
        /// The server's clock, when it sent it (seconds since the epoch).
        server_time: Option<u64>,
        /// Our signing time, as the server echoed it.
        our_time: u64,
    },
    /// Another TSIG error code.
    OtherError(u16),
    /// A TSIG whose MAC, key or time does not check out.
    BadMac,
    /// The answer could not be parsed.
    Unparsable,
}

fn normalise_key_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// One `key "name" { algorithm ...; secret "..."; };` block of a BIND key file.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFileEntry {
    /// Key name as written (normalised: lower case, no trailing dot).
    pub name: String,
    /// The `algorithm` value as written.
    pub algorithm: Option<String>,
    /// The `secret` value (base64).
    pub secret: Option<String>,
}

impl fmt::Debug for KeyFileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFileEntry")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                let mut closed = false;
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return Err("unterminated /* comment".into());
                }
            }
            '"' => {
                let mut s = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    s.push(c);
                }
                if !closed {
                    return Err("unterminated quoted string".into());
                }
                out.push(Token::Quoted(s));
            }
            '{' => out.push(Token::Open),
            '}' => out.push(Token::Close),
            ';' => out.push(Token::Semi),
            c => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

/// Parse every `key` block of a BIND-syntax key file (what `tsig-keygen` prints). Comments
/// (`#`, `//`, `/* */`) and other statements are skipped.
pub fn parse_key_file(text: &str) -> Result<Vec<KeyFileEntry>, String> {
    let tokens = tokenize(text)?;
    let mut keys = Vec::new();
    let mut i = 0;
    let text_of = |t: Option<&Token>| match t {
        Some(Token::Word(s) | Token::Quoted(s)) => Some(s.clone()),
        _ => None,
    };
    while i < tokens.len() {
        let is_key = matches!(&tokens[i], Token::Word(w) if w.eq_ignore_ascii_case("key"));
        if !is_key {
            i += 1;
            continue;
        }
        let name = text_of(tokens.get(i + 1)).ok_or("`key` must be followed by a name")?;
        if tokens.get(i + 2) != Some(&Token::Open) {
            return Err(format!("key `{name}`: expected `{{` after the name"));
        }
        i += 3;
        let mut entry = KeyFileEntry {
            name: normalise_key_name(&name),
            algorithm: None,
            secret: None,
        };
        loop {
            match tokens.get(i) {
                None => return Err(format!("key `{name}`: missing `}}`")),
                Some(Token::Close) => {
                    i += 1;
                    if tokens.get(i) == Some(&Token::Semi) {
                        i += 1;
                    }
                    break;
                }
                Some(Token::Word(w)) => {
                    let field = w.to_ascii_lowercase();
                    let value = text_of(tokens.get(i + 1))
                        .ok_or_else(|| format!("key `{name}`: `{field}` needs a value"))?;
                    match field.as_str() {
                        "algorithm" => entry.algorithm = Some(value),
                        "secret" => entry.secret = Some(value),
                        _ => {}
                    }
                    i += 2;
                    // Skip to the end of the statement.
                    while let Some(t) = tokens.get(i) {
                        i += 1;
                        if *t == Token::Semi {
                            break;
                        }
                    }
                }
                Some(_) => i += 1,
            }
        }
        keys.push(entry);
    }
    Ok(keys)
}

/// Choose the key named `wanted`, or the only key when no name is given.
pub fn select_key(keys: &[KeyFileEntry], wanted: Option<&str>) -> Result<KeyFileEntry, String> {
    let names = || {
        keys.iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(w) => {
            let w = normalise_key_name(w);
            keys.iter().find(|k| k.name == w).cloned().ok_or_else(|| {
                if keys.is_empty() {
                    format!("no key `{w}`: the file holds no `key` block")
                } else {
                    format!("no key `{w}` in the file (it holds: {})", names())
                }
            })
        }
        None => match keys {
            [] => Err("the file holds no `key \"NAME\" { ... };` block".into()),
            [one] => Ok(one.clone()),
            _ => Err(format!(
                "the file holds several keys ({}); set tsig_key to choose one",
                names()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        for ok in [
            "hmac-sha256",
            "HMAC-SHA256.",
            "sha256",
            "Hmac-Sha256",
            " hmac-sha256. ",
        ] {
            assert_eq!(Algorithm::parse(ok), Ok(Algorithm::HmacSha256), "{ok}");
        }
        assert_eq!(Algorithm::parse("hmac-sha384"), Ok(Algorithm::HmacSha384));
        assert_eq!(Algorithm::parse("HMAC-SHA512."), Ok(Algorithm::HmacSha512));
        let md5 = Algorithm::parse("HMAC-MD5.SIG-ALG.REG.INT").expect_err("md5");
        assert!(
            md5.contains("hmac-md5 is insecure") && md5.contains("tsig-keygen -a hmac-sha256"),
            "{md5}"
        );
        assert!(Algorithm::parse("hmac-md5").is_err());
        assert_eq!(Algorithm::parse("HMAC-SHA1."), Ok(Algorithm::HmacSha1));
        assert!(Algorithm::HmacSha1.is_discouraged() && !Algorithm::HmacSha256.is_discouraged());
        assert!(Algorithm::parse("hmac-sha224").is_err());
        assert!(Algorithm::parse("hmac-sha256-128").is_err());
        assert!(
            Algorithm::parse("rot13")
                .expect_err("unknown")
                .contains("unknown TSIG algorithm")
        );
    }

    #[test]
    fn key_file_with_comments_and_several_keys() {
        let text = r#"
# made by tsig-keygen
key "acme-key" {
	algorithm hmac-sha256;
	secret "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
};
/* another
   key */
key other.key. { algorithm HMAC-SHA512.; secret "b3RoZXI="; // trailing
};
options { directory "/tmp"; };
"#;
        let keys = parse_key_file(text).expect("parse");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name, "acme-key");
        assert_eq!(keys[0].algorithm.as_deref(), Some("hmac-sha256"));
        assert_eq!(
            keys[0].secret.as_deref(),
            Some("c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
        );
        assert_eq!(keys[1].name, "other.key");
        assert_eq!(keys[1].algorithm.as_deref(), Some("HMAC-SHA512."));
        assert_eq!(
            select_key(&keys, Some("Other.Key.")).map(|k| k.name),
            Ok("other.key".into())
        );
        assert!(
            select_key(&keys, None)
                .expect_err("ambiguous")
                .contains("acme-key, other.key")
        );
        assert!(select_key(&keys, Some("nope")).is_err());
        assert_eq!(
            select_key(&keys[..1], None).map(|k| k.name),
            Ok("acme-key".into())
        );
        assert!(!format!("{:?}", keys[0]).contains("c2Vj"));
    }

    #[test]
    fn key_file_errors() {
        assert!(parse_key_file("key \"a\" { secret \"x\"; ").is_err());
        assert!(parse_key_file("key \"a\" { secret \"x; };").is_err());
        assert_eq!(parse_key_file("# nothing\n").map(|k| k.len()), Ok(0));
    }

    #[test]
    fn key_secret_checks_and_redaction() {
        let k = TsigKey::new("Acme-Key.", Algorithm::HmacSha256, "c2Vj cmV0").expect("key");
        assert_eq!(k.name, "acme-key");
        assert!(!format!("{k:?}").contains("c2Vj"));
        let mut m = Message::query();
        assert!(
            k.sign(&mut m, 1_700_000_000)
                .is_ok_and(|r| r.mac.len() == 32)
        );
        assert!(TsigKey::new("k", Algorithm::HmacSha256, "not base64!").is_err());
        assert!(TsigKey::new("k", Algorithm::HmacSha256, "").is_err());
    }
}
