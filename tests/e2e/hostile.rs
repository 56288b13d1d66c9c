//! Hostile input (issue 7): names, config files and server URLs that must be refused clearly
//! (no panic, exit ≠ 0, nothing published), and a fuzz smoke: every parser that sees outside
//! data runs over the seed corpus of `tests/fuzz/seeds/` plus deterministic mutations of it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use wildcert_testkit::BindOptions;

use crate::faults::{assert_clear_error, journal_entries};
use crate::lab::{Lab, Run, json, run_bounded};

/// Run the binary without servers (everything here fails before the network).
fn offline(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildcert"));
    cmd.arg("--state-dir")
        .arg(state)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, Duration::from_secs(60))
}

#[test]
fn hostile_names_are_refused_before_anything_is_published() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let long_label = format!("{}.example.test", "a".repeat(64));
    let long_name = format!("{}example.test", "abcdefghi.".repeat(26));
    let cases: Vec<(&str, &str)> = vec![
        ("", "empty"),
        ("a..example.test", "empty label"),
        (".example.test", "empty label"),
        (&long_label, "longer than 63"),
        (&long_name, "longer than 253"),
        ("*.*.example.test", "wildcard"),
        ("a.*.example.test", "wildcard"),
        ("*", "wildcard"),
        ("*example.test", "wildcard"),
        ("192.0.2.1", "IP address"),
        ("::1", "IP address"),
        ("[2001:db8::1]", "example"),
        ("example.test/x", "character"),
        ("exa mple.example.test", "character"),
        ("example.test:443", "character"),
        ("-a.example.test", "hyphen"),
        ("under_score.example.test", "character"),
        ("test", "single label"),
        ("xn--zz.example.test", "IDNA"),
        ("xn--bcher-kvb.example.test", "IDNA"),
        ("a\u{2488}.example.test", "IDNA"),
        ("a\u{200d}b.example.test", "IDNA"),
    ];
    for (name, why) in cases {
        let domain = format!("--domain={name}");
        let run = lab.wildcert(&["issue", &domain, "--dns", "rfc2136"], &[]);
        assert!(matches!(run.code, Some(2)), "`{name}`: {}", run.all());
        assert_clear_error(&run);
        let lower = run.stderr.to_lowercase();
        assert!(
            lower.contains(&why.to_lowercase()) || run.stderr.contains("hint:"),
            "`{name}` should be refused for `{why}`: {}",
            run.all()
        );
        if why != "example" {
            assert!(
                lower.contains(&why.to_lowercase()),
                "`{name}`: reason `{why}` missing: {}",
                run.all()
            );
        }
    }
    // Nothing was ever published, no account or certificate was created.
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    assert!(journal_entries(&lab).is_empty());
    assert!(!lab.state_dir().join("certs").exists());
}

#[test]
fn unicode_and_mixed_case_names_issue_as_a_labels() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    // Precomposed ü, upper case, trailing dot; and the same name decomposed (u + U+0308).
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "Bücher.EXAMPLE.test.",
            "-d",
            "bu\u{0308}cher.example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(
        v["certificate"]["cert_name"],
        "xn--bcher-kva.example.test",
        "{}",
        run.all()
    );
    assert_eq!(
        v["certificate"]["names"],
        serde_json::json!(["xn--bcher-kva.example.test"]),
        "{}",
        run.all()
    );
    assert!(
        lab.live("xn--bcher-kva.example.test")
            .join("fullchain.pem")
            .exists()
    );
    assert!(
        lab.primary_txt("_acme-challenge.xn--bcher-kva.example.test")
            .is_empty()
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn bad_config_files_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("state");
    let issue = ["issue", "-d", "www.example.test", "--dns", "lab"];
    let provider = "[providers.lab]\nkind = \"rfc2136\"\nnameserver = \"127.0.0.1:1\"\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        // unknown top-level and section keys
        (
            "unknown.toml",
            "[acme]\nsurver = \"https://x/dir\"\n".into(),
            vec!["surver"],
        ),
        (
            "unknown-top.toml",
            "stat_dir = \"/tmp\"\n".into(),
            vec!["stat_dir"],
        ),
        (
            "unknown-provider-key.toml",
            format!("{provider}tsig_fil = \"/k\"\n"),
            vec!["tsig_fil", "providers.lab"],
        ),
        // wrong types
        (
            "type.toml",
            "[acme]\nagree_tos = \"yes\"\n".into(),
            vec!["agree_tos"],
        ),
        (
            "type-dns.toml",
            "[dns]\nresolvers = 53\n".into(),
            vec!["resolvers"],
        ),
        ("not-toml.toml", "[acme\nemail = \n".into(), vec![]),
        // bad values
        (
            "duration.toml",
            "[dns]\npropagation_timeout = \"soon\"\n".into(),
            vec!["propagation_timeout"],
        ),
        // missing credentials: no TSIG key at all
        ("nokey.toml", provider.to_string(), vec!["tsig_file"]),
        // unreadable secret files (a missing file, a directory)
        (
            "missing-secret.toml",
            format!("{provider}tsig_file = \"/nonexistent/wildcert/key\"\n"),
            vec!["tsig_file", "/nonexistent/wildcert/key"],
        ),
        (
            "dir-secret.toml",
            format!("{provider}tsig_key = \"k\"\ntsig_secret_file = \"/\"\n"),
            vec!["tsig_secret_file"],
        ),
        (
            "eab-file.toml",
            format!(
                "[acme]\neab_kid = \"kid\"\neab_hmac_key_file = \"/nonexistent/eab\"\n{provider}"
            ),
            vec!["eab_hmac_key_file", "/nonexistent/eab"],
        ),
    ];
    for (file, text, keys) in cases {
        let path = write(dir.path(), file, &text);
        let cfg = path.to_str().expect("utf-8");
        let mut args = vec!["--config", cfg, "--server", "https://127.0.0.1:1/dir"];
        args.extend_from_slice(&issue);
        let run = offline(&state, &args, &[]);
        assert_eq!(run.code, Some(2), "{file}: {}", run.all());
        assert_clear_error(&run);
        let err = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default()
            .to_string();
        assert!(
            err.contains(file) || keys.iter().any(|k| k.starts_with('/')),
            "{file}: the error should name the file: {}",
            run.all()
        );
        for k in keys {
            assert!(
                err.contains(k),
                "{file}: the error should name `{k}`: {}",
                run.all()
            );
        }
        assert!(!run.stderr.contains("panicked"), "{file}: {}", run.all());
    }
    // An unknown WILDCERT_ environment key of ours is named too.
    let run = offline(
        &state,
        &[
            "--server",
            "https://127.0.0.1:1/dir",
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[("WILDCERT_ACME__SURVER", "x")],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.to_lowercase().contains("surver"),
        "{}",
        run.all()
    );
}

#[test]
fn plain_http_directory_is_refused_unless_loopback_and_allowed() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("state");
    let env = [
        ("RFC2136_NAMESERVER", "127.0.0.1:1"),
        ("RFC2136_TSIG_KEY", "k"),
        (
            "RFC2136_TSIG_SECRET",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=",
        ),
    ];
    let issue = ["issue", "-d", "www.example.test", "--dns", "rfc2136"];
    let port = wildcert_testkit::free_tcp_port().expect("port");
    let loopback = format!("http://127.0.0.1:{port}/dir");
    // Remote http: refused, even when allowed.
    for (server, allow) in [
        ("http://acme.example/dir", false),
        ("http://acme.example/dir", true),
        ("http://192.0.2.1/dir", true),
        (loopback.as_str(), false),
    ] {
        let mut args = vec!["--server", server];
        args.extend_from_slice(&issue);
        let env: Vec<(&str, &str)> = env
            .iter()
            .copied()
            .chain(allow.then_some(("WILDCERT_ACME__ALLOW_INSECURE_HTTP", "true")))
            .collect();
        let run = offline(&state, &args, &env);
        assert!(
            matches!(run.code, Some(c) if c != 0),
            "{server}: {}",
            run.all()
        );
        assert_clear_error(&run);
        assert!(run.stderr.contains("http"), "{server}: {}", run.all());
        assert!(
            run.stderr.contains("loopback") || run.stderr.contains("allow_insecure_http"),
            "{server} (allowed: {allow}): the reason is missing: {}",
            run.all()
        );
    }
    // Loopback and allowed: the policy lets it through (the dead port then fails to connect).
    let mut args = vec!["--server", loopback.as_str()];
    args.extend_from_slice(&issue);
    let env: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("WILDCERT_ACME__ALLOW_INSECURE_HTTP", "true")])
        .collect();
    let run = offline(&state, &args, &env);
    assert_eq!(run.code, Some(4), "{}", run.all());
    assert!(!run.stderr.contains("allow_insecure_http"), "{}", run.all());
}

// ---------------------------------------------------------------------------------------------
// Fuzz smoke: the cargo-fuzz targets of tests/fuzz/ as a normal, bounded test.

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz/seeds")
        .join(target);
    let mut out: Vec<Vec<u8>> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect(),
        Err(e) => panic!("seed corpus {}: {e}", dir.display()),
    };
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out.sort();
    out
}

/// A small deterministic mutator (xorshift): flips, inserts, deletes, duplicates, splices.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..=self.below(4) {
            let interesting: &[&[u8]] = &[
                b"\0",
                b"\xff",
                b"\xc3\xbc",
                b"*",
                b".",
                b"..",
                b"\"",
                b"{",
                b"}",
                b"[",
                b"]",
                b"=",
                b"\n",
                b"-----BEGIN CERTIFICATE-----\n",
                b"-----END CERTIFICATE-----\n",
                b"99999999999999999999",
                b"-1",
                b"null",
                b"\\u0000",
                b"xn--",
                b";",
            ];
            match self.below(6) {
                0 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] ^= 1 << self.below(8);
                }
                1 => {
                    let i = self.below(v.len() + 1);
                    let ins = interesting[self.below(interesting.len())];
                    v.splice(i..i, ins.iter().copied());
                }
                2 if !v.is_empty() => {
                    let a = self.below(v.len());
                    let b = (a + self.below(16)).min(v.len());
                    v.drain(a..b);
                }
                3 if !v.is_empty() => {
                    let a = self.below(v.len());
                    let b = (a + self.below(64)).min(v.len());
                    let piece = v[a..b].to_vec();
                    v.splice(a..a, piece);
                }
                4 if !other.is_empty() => {
                    let cut = self.below(v.len() + 1);
                    let from = self.below(other.len());
                    v.truncate(cut);
                    v.extend_from_slice(&other[from..]);
                }
                _ => v.truncate(self.below(v.len() + 1)),
            }
        }
        v.truncate(64 * 1024);
        v
    }
}

/// Run `f` over every seed and `rounds` mutations of them (a panic fails the test).
fn smoke(target: &str, rounds: usize, mut f: impl FnMut(&[u8])) {
    let corpus = seeds(target);
    let mut m = Mutator(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    for s in &corpus {
        f(s);
    }
    for i in 0..rounds {
        let a = &corpus[i % corpus.len()];
        let b = &corpus[m.below(corpus.len())];
        let input = m.mutate(a, b);
        f(&input);
    }
}

const ROUNDS: usize = 3000;

#[test]
fn fuzz_smoke_dns_names() {
    smoke("dns_name", ROUNDS, |data| {
        let s = String::from_utf8_lossy(data);
        if let Ok(n) = wildcert_dns::DnsName::parse(&s) {
            assert!(n.as_str().len() <= 253, "{s:?}");
            // Normal form is stable.
            assert_eq!(
                wildcert_dns::DnsName::parse(n.as_str()).ok().as_ref(),
                Some(&n)
            );
        }
        if let Ok(id) = wildcert_dns::Identifier::parse(&s) {
            let again = wildcert_dns::Identifier::parse(&id.as_acme()).expect("re-parse");
            assert_eq!(again, id, "{s:?}");
        }
    });
}

#[test]
fn fuzz_smoke_acme_json() {
    smoke("acme_json", ROUNDS, |data| {
        if let Some(p) = wildcert_acme::Problem::from_json(data) {
            let shown = p.to_string();
            assert!(
                !shown.contains('\n'),
                "problem display is one line: {shown:?}"
            );
        }
        let _ = serde_json::from_slice::<wildcert_acme::Directory>(data);
        let _ = serde_json::from_slice::<wildcert_acme::OrderState>(data);
        let _ = serde_json::from_slice::<wildcert_acme::AuthorizationState>(data);
        let _ = serde_json::from_slice::<wildcert_acme::AccountState>(data);
    });
}

#[test]
fn fuzz_smoke_pem_chains() {
    smoke("pem_chain", ROUNDS / 3, |data| {
        let s = String::from_utf8_lossy(data);
        if let Ok(info) = wildcert_manager::verify::inspect(&s) {
            assert!(info.leaf_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        }
    });
}

#[test]
fn fuzz_smoke_config_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("wildcert.toml");
    let env = BTreeMap::new();
    smoke("config", ROUNDS / 3, |data| {
        std::fs::write(&path, data).expect("write");
        if let Ok(s) = wildcert_manager::settings::Settings::load_with_env(Some(&path), &env) {
            let _ = wildcert_manager::RunConfig::from_settings(&s);
        }
    });
}

#[test]
fn fuzz_smoke_tsig_key_files() {
    // The key-file parser runs inside the rfc2136 provider's settings loader.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("tsig.key");
    let settings = wildcert_manager::settings::Settings::default();
    let mut env = HashMap::new();
    env.insert("RFC2136_NAMESERVER".to_string(), "127.0.0.1:1".to_string());
    env.insert(
        "RFC2136_TSIG_FILE".to_string(),
        path.to_string_lossy().into_owned(),
    );
    smoke("tsig_key_file", ROUNDS / 3, |data| {
        std::fs::write(&path, data).expect("write");
        let r = wildcert_manager::providers::build(
            "rfc2136",
            &settings,
            None,
            &env,
            wildcert_manager::providers::ProviderContext::default(),
        );
        if let Err(e) = r {
            // Errors name the file; no key material is echoed back.
            let msg = e.to_string();
            assert!(!msg.contains("secret \""), "{msg}");
        }
    });
}
