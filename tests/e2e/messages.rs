//! Messages that name the real cause (issue 24, item 6): what the user reads (the `error:` line,
//! the `hint:` line, the exit code) when a DNS server refuses by policy, rejects a key, fails,
//! hits a limit or stays silent, and when the CA asks to wait or no longer knows the account.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use wildcert_testkit::{
    BindOptions, Knot, KnotOptions, Pebble, PebbleOptions, PowerDns, PowerDnsOptions,
};

use crate::faults::{assert_clear_error, journal_entries, lab_with};
use crate::lab::{Lab, RUN_LIMIT, Run, run_bounded};

/// The `error:` and `hint:` lines of a failed run.
fn lines(run: &Run) -> (String, String) {
    let find = |p: &str| {
        run.stderr
            .lines()
            .find(|l| l.starts_with(p))
            .unwrap_or_default()
            .to_string()
    };
    let (error, hint) = (find("error:"), find("hint:"));
    eprintln!("exit {:?}\n{error}\n{hint}", run.code);
    (error, hint)
}

/// `wildcert` against `pebble` with `dns` as resolver and the only server checked for
/// propagation, and the RFC2136_* variables given (no key file).
fn wildcert_rfc2136(
    pebble: &Pebble,
    state: &Path,
    dns: SocketAddr,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildcert"));
    cmd.arg("--server")
        .arg(pebble.directory_url())
        .arg("--ca-bundle")
        .arg(pebble.ca_cert_path())
        .arg("--state-dir")
        .arg(state)
        .arg("--agree-tos")
        .arg("--email")
        .arg("e2e@example.test")
        .arg("--resolver")
        .arg(dns.to_string())
        .arg("--authoritative")
        .arg(dns.to_string())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RFC2136_NAMESERVER", dns.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, RUN_LIMIT)
}

const ISSUE: [&str; 5] = ["issue", "-d", "example.test", "--dns", "rfc2136"];

#[test]
fn knot_refusing_by_its_acl_is_named_a_policy_not_an_unknown_key() {
    if !wildcert_testkit::require_knot() || !wildcert_testkit::require_pebble() {
        return;
    }
    // The key may update A records only: a TXT update is refused by the ACL, and Knot says
    // so with NOTAUTH/BADKEY, unsigned, as for a key it does not know.
    let knot = Knot::start(KnotOptions {
        update_types: vec!["A".into()],
        ..Default::default()
    })
    .expect("knotd starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(knot.addr()),
        ..Default::default()
    })
    .expect("pebble starts");
    let state = tempfile::tempdir().expect("state");
    let key_env = |name: &str| -> Vec<(String, String)> {
        vec![
            ("RFC2136_TSIG_KEY".into(), name.into()),
            ("RFC2136_TSIG_ALGORITHM".into(), knot.key_algorithm().into()),
            ("RFC2136_TSIG_SECRET".into(), knot.secret_b64().into()),
        ]
    };
    let env = key_env(knot.key_name());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = wildcert_rfc2136(&pebble, state.path(), knot.addr(), &ISSUE, &env);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_clear_error(&run);
    let (error, hint) = lines(&run);
    assert!(
        error.contains("policy") && error.contains("ACL") && error.contains("knows TSIG"),
        "{}",
        run.all()
    );
    assert!(
        !error.contains("credentials refused") && !error.contains("unknown key"),
        "{}",
        run.all()
    );
    assert!(hint.contains("update-policy"), "{}", run.all());
    assert!(!run.stderr.contains(knot.secret_b64()), "{}", run.all());
    assert!(
        knot.txt_values("_acme-challenge.example.test")
            .expect("dig")
            .is_empty()
    );
    // The refusal left nothing to remove: no journal entry warns on later runs.
    assert!(
        std::fs::read_dir(state.path().join("journal"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "{}",
        run.all()
    );

    // A key Knot really does not know is still called unknown.
    let env = key_env("no-such-key");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let state = tempfile::tempdir().expect("state");
    let run = wildcert_rfc2136(&pebble, state.path(), knot.addr(), &ISSUE, &env);
    assert_eq!(run.code, Some(3), "{}", run.all());
    let (error, _) = lines(&run);
    assert!(error.contains("unknown key"), "{}", run.all());
    assert!(!error.contains("policy"), "{}", run.all());
}

#[test]
fn powerdns_refusing_a_wrong_tsig_key_is_named_not_a_secondary() {
    if !wildcert_testkit::require_pdns()
        || !wildcert_testkit::require_pebble()
        || !wildcert_testkit::require("ip")
    {
        return;
    }
    assert!(
        wildcert_testkit::is_root() || !wildcert_testkit::is_ci(),
        "PowerDNS on port 53 needs root, and CI=true"
    );
    if !wildcert_testkit::is_root() {
        return;
    }
    // On its own 127.53.x.y:53, named in the zone's NS/A records: the server is a published
    // nameserver of the zone, which is what made a refusal look like "a secondary".
    let pdns = PowerDns::start(PowerDnsOptions {
        port53: true,
        dnsupdate_tsig: true,
        ..Default::default()
    })
    .expect("pdns_server starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(pdns.dns_addr()),
        ..Default::default()
    })
    .expect("pebble starts");
    let (key, secret) = pdns.tsig().expect("tsig key");
    let wrong_secret = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";
    let cases = [
        ("a wrong secret", key, "hmac-sha256", wrong_secret),
        ("a wrong key name", "no-such-key", "hmac-sha256", secret),
        ("a wrong algorithm", key, "hmac-sha512", secret),
    ];
    for (what, name, alg, sec) in cases {
        let state = tempfile::tempdir().expect("state");
        let env = [
            ("RFC2136_TSIG_KEY", name),
            ("RFC2136_TSIG_ALGORITHM", alg),
            ("RFC2136_TSIG_SECRET", sec),
        ];
        let run = wildcert_rfc2136(&pebble, state.path(), pdns.dns_addr(), &ISSUE, &env);
        assert_eq!(run.code, Some(3), "{what}: {}", run.all());
        assert_clear_error(&run);
        let (error, hint) = lines(&run);
        assert!(!error.contains("secondary"), "{what}: {}", run.all());
        assert!(
            error.contains("does not accept TSIG") && error.contains("secret"),
            "{what}: {}",
            run.all()
        );
        assert!(hint.contains("TSIG credentials"), "{what}: {}", run.all());
        assert!(
            !run.stderr.contains(secret) && !run.stderr.contains(wrong_secret),
            "{what}: secret leaked: {}",
            run.all()
        );
        assert!(
            pdns.txt_values("_acme-challenge.example.test")
                .expect("dig")
                .is_empty()
        );
    }
    // The right key works: the refusals above were about the key, nothing else.
    let state = tempfile::tempdir().expect("state");
    let env = [
        ("RFC2136_TSIG_KEY", key),
        ("RFC2136_TSIG_ALGORITHM", "hmac-sha256"),
        ("RFC2136_TSIG_SECRET", secret),
    ];
    let run = wildcert_rfc2136(&pebble, state.path(), pdns.dns_addr(), &ISSUE, &env);
    assert_eq!(run.code, Some(0), "{}", run.all());
}

#[test]
fn a_retry_after_beyond_the_wait_is_reported_with_the_real_wait() {
    if !wildcert_testkit::require_pebble_upstream() {
        return;
    }
    // The upstream Pebble sends `Retry-After: 999999` on every processing order.
    let Some(lab) = lab_with(
        BindOptions::default(),
        PebbleOptions {
            retry_after: Some((1, 999_999)),
            ..PebbleOptions::upstream()
        },
    ) else {
        return;
    };
    let run = lab.wildcert(&ISSUE, &[]);
    assert_eq!(run.code, Some(4), "{}", run.all());
    assert_clear_error(&run);
    let (error, hint) = lines(&run);
    assert!(
        error.contains("(11 d 13 h) (Retry-After)") && error.contains("longer than the 300 s"),
        "{}",
        run.all()
    );
    assert!(!error.contains("timed out after"), "{}", run.all());
    assert!(hint.contains("run again"), "{}", run.all());
    assert!(
        run.elapsed < Duration::from_secs(60),
        "waited for nothing: {}",
        run.all()
    );
}

#[test]
fn bind_refusing_more_records_per_name_names_the_limit() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    // BIND 9.18.28+ / 9.20 keep at most 100 records per name and type by default: fill the
    // name up (stale values another client left), so our value is one too many.
    let stale: Vec<String> = (0..100)
        .map(|i| format!("_acme-challenge 60 TXT \"stale-{i}\""))
        .collect();
    let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
    lab.bind
        .add_records("example.test", &stale)
        .expect("seed 100 TXT values");
    let run = lab.wildcert(&ISSUE, &[]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_clear_error(&run);
    let (error, hint) = lines(&run);
    assert!(
        error.contains("max-records-per-type") && error.contains("already holds 100"),
        "{}",
        run.all()
    );
    assert!(
        !hint.contains("journal") && !hint.contains("update-policy"),
        "{}",
        run.all()
    );
    assert!(hint.contains("stale TXT values"), "{}", run.all());
    assert_eq!(
        lab.primary_txt("_acme-challenge.example.test").len(),
        100,
        "{}",
        run.all()
    );
    assert!(journal_entries(&lab).is_empty(), "{}", run.all());
}

#[test]
fn a_malformed_eab_key_is_named_before_anything_is_sent() {
    let Some(lab) = lab_with(
        BindOptions::default(),
        PebbleOptions {
            eab_required: true,
            eab_keys: vec![(
                "kid-1".into(),
                "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W".into(),
            )],
            ..Default::default()
        },
    ) else {
        return;
    };
    let bad = "not*base64!key";
    let run = lab.wildcert(
        &[
            "account",
            "register",
            "--eab-kid",
            "kid-1",
            "--eab-hmac-key",
            bad,
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_clear_error(&run);
    let (error, hint) = lines(&run);
    assert!(error.contains("base64"), "{}", run.all());
    assert!(
        hint.contains("base64url") && hint.contains("as the CA shows it"),
        "{}",
        run.all()
    );
    assert!(!hint.contains("--ca-bundle"), "{}", run.all());
    assert!(!run.stderr.contains(bad), "key echoed: {}", run.all());
}

#[test]
fn a_stale_account_key_says_the_ca_does_not_know_it() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let run = lab.wildcert(&["account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    // A second CA instance at another address, given the first one's account (as after the
    // CA lost its accounts, or a store copied between instances): it knows no such account.
    let other = Pebble::start(PebbleOptions {
        dns_server: Some(lab.bind.lagging_secondary_addr()),
        ..Default::default()
    })
    .expect("second pebble");
    let accounts = lab.state_dir().join("accounts");
    // ca_dir_name keeps dots and turns ':' into '_': 127.0.0.1_14000.
    let dir_of = |p: &Pebble| {
        let a = p.listen_addr();
        accounts.join(format!("{}_{}", a.ip(), a.port()))
    };
    let (old_dir, new_dir) = (dir_of(&lab.pebble), dir_of(&other));
    assert!(old_dir.is_dir(), "no {}", old_dir.display());
    std::fs::rename(&old_dir, &new_dir).expect("move the account");
    let rec = new_dir.join("default/account.json");
    let text = std::fs::read_to_string(&rec).expect("account.json");
    let text = text.replace(
        &lab.pebble.listen_addr().to_string(),
        &other.listen_addr().to_string(),
    );
    std::fs::write(&rec, text).expect("rewrite account.json");
    let key_file = lab.bind.tsig_key_file_path().to_string_lossy().into_owned();
    let run = wildcert_rfc2136(
        &other,
        lab.state_dir(),
        lab.bind.primary_addr(),
        &ISSUE,
        &[("RFC2136_TSIG_FILE", &key_file)],
    );
    assert_eq!(run.code, Some(4), "{}", run.all());
    assert_clear_error(&run);
    let (error, hint) = lines(&run);
    assert!(error.contains("accountDoesNotExist"), "{}", run.all());
    assert!(
        hint.contains("does not know the account key") && hint.contains("account register"),
        "{}",
        run.all()
    );
    assert!(!hint.contains("--ca-bundle"), "{}", run.all());
}

/// A UDP socket on loopback that takes every packet and answers none (for `limit`).
fn silent_server(limit: Duration) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr");
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < limit {
            let _ = sock.recv_from(&mut buf);
        }
    });
    addr
}

#[test]
fn a_silent_nameserver_is_called_silent_not_refused() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let silent = silent_server(Duration::from_secs(90));
    let run = lab.wildcert(
        &ISSUE,
        &[
            ("RFC2136_NAMESERVER", &silent.to_string()),
            ("RFC2136_DNS_TIMEOUT", "2s"),
        ],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_clear_error(&run);
    let (error, _) = lines(&run);
    assert!(error.contains(&silent.to_string()), "{}", run.all());
    assert!(error.contains("no answer within"), "{}", run.all());
    assert!(
        !error.contains("refused") && !error.contains("closed"),
        "{}",
        run.all()
    );
}

/// A UDP relay in front of `upstream` that answers SERVFAIL to the first `fail` UPDATE
/// messages (every one when `fail` is `u32::MAX`) and relays everything else; counts the
/// SERVFAILs it sent. Stops after `limit` or when the flag is set.
struct ServfailRelay {
    addr: SocketAddr,
    sent: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
}

impl ServfailRelay {
    fn start(upstream: SocketAddr, fail: u32, limit: Duration) -> ServfailRelay {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let addr = sock.local_addr().expect("addr");
        let sent = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sent2, stop2) = (sent.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut buf = [0u8; 65535];
            while start.elapsed() < limit && !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                let opcode = (buf[2] >> 3) & 0x0f;
                if opcode == 5 && sent2.load(Ordering::Relaxed) < fail {
                    // Header and the zone section; no TSIG (a server that failed signs nothing).
                    let mut end = 12;
                    while end < n && buf[end] != 0 {
                        end += usize::from(buf[end]) + 1;
                    }
                    end += 5;
                    if end > n {
                        continue;
                    }
                    let mut reply = buf[..end].to_vec();
                    reply[2] |= 0x80;
                    reply[3] = 0x02; // SERVFAIL
                    reply[4..6].copy_from_slice(&[0, 1]);
                    reply[6..12].fill(0);
                    sent2.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send_to(&reply, from);
                    continue;
                }
                let Ok(up) = UdpSocket::bind("127.0.0.1:0") else {
                    continue;
                };
                let _ = up.set_read_timeout(Some(Duration::from_secs(3)));
                if up.send_to(&buf[..n], upstream).is_err() {
                    continue;
                }
                let mut answer = [0u8; 65535];
                if let Ok((m, _)) = up.recv_from(&mut answer) {
                    let _ = sock.send_to(&answer[..m], from);
                }
            }
        });
        ServfailRelay { addr, sent, stop }
    }

    fn sent(&self) -> u32 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for ServfailRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_transient_servfail_on_update_is_retried() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let relay = ServfailRelay::start(lab.bind.primary_addr(), 2, Duration::from_secs(120));
    let run = lab.wildcert(&ISSUE, &[("RFC2136_NAMESERVER", &relay.addr.to_string())]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(relay.sent(), 2, "{}", run.all());
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    assert!(journal_entries(&lab).is_empty(), "{}", run.all());
}

#[test]
fn a_lasting_servfail_on_update_says_the_server_failed() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let relay = ServfailRelay::start(lab.bind.primary_addr(), u32::MAX, Duration::from_secs(120));
    let run = lab.wildcert(&ISSUE, &[("RFC2136_NAMESERVER", &relay.addr.to_string())]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_clear_error(&run);
    let (error, hint) = lines(&run);
    assert!(
        error.contains("the server failed") && error.contains("SERVFAIL 3 times"),
        "{}",
        run.all()
    );
    assert!(
        !error.contains("refused the update by its policy"),
        "{}",
        run.all()
    );
    assert!(
        !hint.contains("update-policy") && hint.contains("server's log"),
        "{}",
        run.all()
    );
    // Bounded: three tries for the publish, none for a cleanup of what was never written.
    assert_eq!(relay.sent(), 3, "{}", run.all());
    assert!(
        run.elapsed < Duration::from_secs(60),
        "not bounded: {}",
        run.all()
    );
    // Nothing was written, so no journal entry is left to warn on every later run.
    assert!(journal_entries(&lab).is_empty(), "{}", run.all());
}
