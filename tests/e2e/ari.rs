//! ARI (RFC 9773) honoured by `renew`, against the newest upstream Pebble's real
//! `renewalInfo` (Debian's Pebble 2.4 has none). The CA moves a certificate's window with
//! Pebble's management API (`/set-renewal-info/`), as a CA does after an incident.

use wildcert_testkit::{BindOptions, BindTopology, Pebble, PebbleOptions};

use crate::lab::{Lab, json};

/// A lab whose CA is the upstream Pebble; `None` when BIND or that build is missing.
pub(crate) fn upstream_lab() -> Option<Lab> {
    if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble_upstream() {
        return None;
    }
    let bind = BindTopology::start(BindOptions::default()).expect("BIND topology starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.lagging_secondary_addr()),
        ..PebbleOptions::upstream()
    })
    .expect("upstream pebble starts");
    let state = tempfile::tempdir().expect("state dir");
    Some(Lab {
        bind,
        pebble,
        _resolver: None,
        state,
    })
}

fn detail(v: &serde_json::Value) -> String {
    v["certificates"][0]["detail"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn renew_follows_the_real_ari_window() {
    let Some(lab) = upstream_lab() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        "[providers.lab]\nkind = \"rfc2136\"\n\n[[certificate]]\nname = \"ari\"\ndomains = [\"ari.example.test\"]\nprovider = \"lab\"\n",
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let renew = || lab.wildcert(&["--config", cfg, "--json", "renew"], &[]);

    // First run issues; the directory advertises renewalInfo, so the window is asked next time.
    let run = renew();
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["issued"], 1, "{}", run.all());
    let first = std::fs::read_to_string(lab.state_dir().join("certs/ari/archive/1/cert.pem"))
        .expect("first certificate");

    // The CA moves the window into the past: renewed now, long before 1/3 of the lifetime
    // is left, and the new order names the old certificate (`replaces`).
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("fmt")
    };
    let past = serde_json::json!({"suggestedWindow": {
        "start": fmt(now - time::Duration::hours(2)),
        "end": fmt(now - time::Duration::hours(1)),
    }});
    rt.block_on(lab.pebble.set_renewal_info(&first, &past.to_string()))
        .expect("window moved");
    let run = renew();
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["summary"]["renewed"], 1, "{}", run.all());
    assert!(detail(&v).contains("ARI"), "{}", run.all());
    assert!(
        lab.state_dir()
            .join("certs/ari/archive/2/cert.pem")
            .exists()
    );
    // Pebble writes that line from the goroutine that finishes the order, possibly after the
    // client has its certificate: looked for with a bound.
    let start = std::time::Instant::now();
    while !lab.pebble.log().contains("has been marked as replaced")
        && start.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        lab.pebble.log().contains("has been marked as replaced"),
        "the renewal order did not carry `replaces`:\n{}",
        lab.pebble.log()
    );

    // The new certificate's real window (about 2/3 into its lifetime) is ahead: skipped by
    // the ARI rule.
    let run = renew();
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["summary"]["skipped"], 1, "{}", run.all());
    assert!(detail(&v).contains("ARI"), "{}", run.all());
}
