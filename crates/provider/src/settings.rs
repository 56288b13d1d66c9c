//! Shared pieces of provider settings: a secret that never prints, and the small parsers and
//! file readers every provider's settings use (errors name the provider kind).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Kind, ProviderError};

/// A secret string (API token, TSIG secret). `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself: only for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// A [`ProviderError::Config`] of `provider` saying `message`.
pub fn config_error(provider: Kind, message: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        provider,
        message: message.into(),
    }
}

/// Refuse a section whose `kind` names another provider.
pub fn check_kind(provider: Kind, kind: Option<&str>) -> Result<(), ProviderError> {
    match kind {
        Some(kind) if kind != provider.name => Err(config_error(
            provider,
            format!("kind is `{kind}`, expected `{provider}`"),
        )),
        _ => Ok(()),
    }
}

/// The value of `name` in `env`, as given; `None` when unset or blank.
pub fn env_value(env: &HashMap<String, String>, name: &str) -> Option<String> {
    env.get(name).filter(|v| !v.trim().is_empty()).cloned()
}

/// A boolean written as `true/false`, `yes/no`, `on/off` or `1/0` (any case; blank is false).
/// `var` names the setting in the error.
pub fn parse_bool(provider: Kind, var: &str, v: &str) -> Result<bool, ProviderError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(config_error(
            provider,
            format!("{var}=`{v}`: expected true or false"),
        )),
    }
}

/// A whole number of seconds, with an optional trailing `s` (`30`, `30s`).
/// `var` names the setting in the error.
pub fn parse_seconds(provider: Kind, var: &str, v: &str) -> Result<u64, ProviderError> {
    v.trim().trim_end_matches('s').parse::<u64>().map_err(|_| {
        config_error(
            provider,
            format!("{var}=`{v}`: expected a number of seconds"),
        )
    })
}

/// The boolean environment variable `var` ([`parse_bool`]); `None` when unset or blank.
pub fn env_bool(
    provider: Kind,
    env: &HashMap<String, String>,
    var: &str,
) -> Result<Option<bool>, ProviderError> {
    env_value(env, var)
        .map(|v| parse_bool(provider, var, &v))
        .transpose()
}

/// The seconds environment variable `var` ([`parse_seconds`]); `None` when unset or blank.
pub fn env_seconds(
    provider: Kind,
    env: &HashMap<String, String>,
    var: &str,
) -> Result<Option<u64>, ProviderError> {
    env_value(env, var)
        .map(|v| parse_seconds(provider, var, &v))
        .transpose()
}

/// Read a settings file (a shared credentials file, say); the error names `key` and the path.
pub fn read_setting_file(provider: Kind, key: &str, path: &Path) -> Result<String, ProviderError> {
    std::fs::read_to_string(path)
        .map_err(|e| config_error(provider, format!("{key} {}: {e}", path.display())))
}

/// Read a file holding secrets (a key file), as it is, and warn when other users may read it
/// ([`warn_if_readable_by_others`]).
pub fn read_secret_text(provider: Kind, key: &str, path: &Path) -> Result<String, ProviderError> {
    let text = read_setting_file(provider, key, path)?;
    warn_if_readable_by_others(path, key);
    Ok(text)
}

/// Read a secret from the file named by setting `key` (`api_key_file`, …), without the white
/// space around it; warns when other users may read the file.
pub fn read_secret_file(provider: Kind, key: &str, path: &Path) -> Result<Secret, ProviderError> {
    read_secret_text(provider, key, path).map(|t| Secret::new(t.trim()))
}

/// A secret given as `key` (a value) or `key_file` (a file), not both: `None` when neither is
/// given or the value is blank; a blank file is an error.
pub fn secret_or_file(
    provider: Kind,
    key: &str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, ProviderError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(config_error(
            provider,
            format!("give either {key} or {key}_file, not both"),
        )),
        (Some(v), None) => {
            let t = v.expose().trim();
            Ok((!t.is_empty()).then(|| Secret::new(t)))
        }
        (None, Some(p)) => {
            let s = read_secret_file(provider, &format!("{key}_file"), p)?;
            if s.is_empty() {
                return Err(config_error(
                    provider,
                    format!("{key}_file {} is empty", p.display()),
                ));
            }
            Ok(Some(s))
        }
        (None, None) => Ok(None),
    }
}

/// Warn when group or others may read a secret file (the key in it can change the zone, or
/// create accounts): `WHAT PATH is readable by other users (mode 0644); chmod 600 it`.
pub fn warn_if_readable_by_others(path: &Path, what: &str) {
    if let Some(mode) = mode_if_open(path, 0o044) {
        tracing::warn!(
            "{what} {} is readable by other users (mode {mode:04o}); chmod 600 it",
            path.display()
        );
    }
}

/// The permission bits of `path` when any bit of `mask` is set in them (`0o044`: readable by
/// group or others); `None` when not, or when it cannot be read.
pub fn mode_if_open(path: &Path, mask: u32) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & mask != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mask);
        None
    }
}

/// [`base_url`] for a hosted API reached over the internet: plain http is refused unless the
/// host is a loopback address (a test fake, a local TLS proxy), so a token never travels in
/// clear text by a typo.
pub fn https_base_url(
    provider: Kind,
    key: &str,
    url: &str,
    strip: &[&str],
) -> Result<reqwest::Url, ProviderError> {
    let u = base_url(provider, key, url, strip)?;
    if u.scheme() == "http" && !is_loopback(&u) {
        return Err(config_error(
            provider,
            format!("{key} `{u}`: plain http is allowed only to a loopback address; use https"),
        ));
    }
    Ok(u)
}

/// Whether `u`'s host is `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback(u: &reqwest::Url) -> bool {
    match u.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A base URL given as setting `key`: http or https, a host, no query or fragment; a trailing
/// `/` and any of `strip` (e.g. `/api/v1`) at the end of its path are dropped, so the user may
/// paste either form. Warns when credentials would travel in clear text to another host.
pub fn base_url(
    provider: Kind,
    key: &str,
    url: &str,
    strip: &[&str],
) -> Result<reqwest::Url, ProviderError> {
    let bad = |why: String| config_error(provider, format!("{key} `{url}`: {why}"));
    let mut u = reqwest::Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https".into()));
    }
    if u.host_str().is_none() {
        return Err(bad("no host".into()));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("remove the query or fragment".into()));
    }
    let mut path = u.path().trim_end_matches('/').to_string();
    for s in strip {
        if let Some(p) = path.strip_suffix(s) {
            path = p.to_string();
            break;
        }
    }
    u.set_path(&path);
    if u.scheme() == "http" && !is_loopback(&u) {
        tracing::warn!(url = %u, "{provider}: credentials are sent in clear text over http; use https (a TLS proxy) or a private network");
    }
    Ok(u)
}

/// Variables a hook or an `exec` program gets from wildcert's own environment: the system's
/// basics and nothing a provider reads as a credential. `LC_*` pass too.
pub const CHILD_ENV_ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TERM",
    "NO_COLOR",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
];

/// The environment a child process (hook, `exec` program) starts from: the allowed variables
/// ([`CHILD_ENV_ALLOWED`], `LC_*`) of `from`, plus the ones named in `pass` on purpose.
pub fn child_env(
    from: impl IntoIterator<Item = (String, String)>,
    pass: &[String],
) -> Vec<(String, String)> {
    from.into_iter()
        .filter(|(k, _)| {
            CHILD_ENV_ALLOWED.contains(&k.as_str())
                || k.starts_with("LC_")
                || pass.iter().any(|p| p == k)
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn children_get_the_basics_and_what_is_passed_on_purpose() {
        let from = [
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("LC_TIME", "C"),
            ("RFC2136_TSIG_SECRET", "c2VjcmV0"),
            ("WILDCERT_ACME__EAB_HMAC_KEY", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("VAULT_ADDR", "https://vault"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let got = super::child_env(from.clone(), &[]);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["PATH", "HOME", "LC_TIME"]);
        let got = super::child_env(from, &["VAULT_ADDR".to_string()]);
        assert!(got.iter().any(|(k, _)| k == "VAULT_ADDR"));
        assert!(!got.iter().any(|(k, _)| k.contains("SECRET")));
    }

    #[test]
    fn https_base_url_refuses_plain_http_except_to_loopback() {
        let k = Kind::plain("example");
        for ok in [
            "https://api.example.com/v2",
            "http://127.0.0.1:8080",
            "http://127.1.2.3/x",
            "http://[::1]:99",
            "http://localhost:1",
        ] {
            assert!(https_base_url(k, "base_url", ok, &[]).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "http://127.example.com",
        ] {
            let e = https_base_url(k, "base_url (X_API_URL)", bad, &[]).expect_err(bad);
            assert!(e.to_string().contains("plain http"), "{e}");
            assert!(e.to_string().contains("X_API_URL"), "{e}");
        }
    }
    use super::*;

    const P: Kind = Kind::plain("p");

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("c2VjcmV0");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "c2VjcmV0");
    }

    #[test]
    fn shared_parsers() {
        let env: HashMap<String, String> =
            [("A", " "), ("B", " yes "), ("T", "30s"), ("X", "soon")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(env_value(&env, "A"), None);
        assert_eq!(env_value(&env, "B").as_deref(), Some(" yes "));
        assert_eq!(env_bool(P, &env, "B").ok(), Some(Some(true)));
        assert_eq!(env_bool(P, &env, "none").ok(), Some(None));
        assert_eq!(env_seconds(P, &env, "T").ok(), Some(Some(30)));
        let e = env_seconds(P, &env, "X").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("p: bad settings: X=`soon`: expected a number of seconds")
        );
        assert!(parse_bool(P, "V", "maybe").is_err());
        assert!(check_kind(P, Some("q")).is_err());
        assert!(check_kind(P, Some("p")).is_ok() && check_kind(P, None).is_ok());
    }

    #[test]
    fn secret_files() {
        let dir =
            std::env::temp_dir().join(format!("wildcert-dns-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("key");
        std::fs::write(&p, " s3cret\n").expect("write");
        let s = read_secret_file(P, "api_key_file", &p).expect("read");
        assert_eq!(s.expose(), "s3cret");
        let v = Some(Secret::new("  "));
        assert_eq!(secret_or_file(P, "api_key", &v, &None).ok(), Some(None));
        let f = Some(p.clone());
        assert!(secret_or_file(P, "api_key", &v, &f).is_err());
        std::fs::write(&p, "\n").expect("write");
        let e = secret_or_file(P, "api_key", &None, &f)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("is empty")));
        let e = read_secret_file(P, "api_key_file", &dir.join("nope")).err();
        assert!(e.is_some_and(|e| e.to_string().contains("api_key_file")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
