//! TSIG keys (RFC 8945): algorithm names, BIND key files, and the hickory signer.

use std::fmt;

use base64::Engine as _;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};

/// Fudge (allowed clock difference) in seconds: RFC 8945 §10 recommends 300.
pub const FUDGE: u16 = 300;

/// The algorithms we sign with (RFC 8945 §6: SHA-256 mandatory, SHA-384/512 optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
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
            "sha256" => Ok(Algorithm::HmacSha256),
            "sha384" => Ok(Algorithm::HmacSha384),
            "sha512" => Ok(Algorithm::HmacSha512),
            "md5" | "md5.sig-alg.reg.int" => Err(format!(
                "hmac-md5 is insecure and not supported (RFC 8945 §6); {fix}"
            )),
            "sha1" => Err(format!(
                "hmac-sha1 is not recommended (RFC 8945 §6) and not supported; {fix}"
            )),
            "sha224" => Err(format!("hmac-sha224 is not supported; {fix}")),
            c if c.starts_with("sha") && c.contains('-') => Err(format!(
                "truncated TSIG algorithm `{input}` is not supported; {fix}"
            )),
            "" => Err("empty TSIG algorithm; use hmac-sha256, hmac-sha384 or hmac-sha512".into()),
            _ => Err(format!(
                "unknown TSIG algorithm `{input}`; use hmac-sha256, hmac-sha384 or hmac-sha512"
            )),
        }
    }

    /// The name BIND and RFC 8945 use, e.g. `hmac-sha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    fn hickory(self) -> TsigAlgorithm {
        match self {
            Algorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
            Algorithm::HmacSha384 => TsigAlgorithm::HmacSha384,
            Algorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
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

    /// The hickory signer for this key.
    pub fn signer(&self) -> Result<TSigner, String> {
        let name = Name::from_ascii(format!("{}.", self.name))
            .map_err(|e| format!("bad TSIG key name: {e}"))?;
        TSigner::new(self.secret.clone(), self.algorithm.hickory(), name, FUDGE)
            .map_err(|e| e.to_string())
    }
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
        assert!(
            Algorithm::parse("hmac-sha1")
                .expect_err("sha1")
                .contains("sha1")
        );
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
        assert!(k.signer().is_ok());
        assert!(TsigKey::new("k", Algorithm::HmacSha256, "not base64!").is_err());
        assert!(TsigKey::new("k", Algorithm::HmacSha256, "").is_err());
    }
}
