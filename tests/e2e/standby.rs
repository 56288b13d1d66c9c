//! Standby bastions on one PostgreSQL store (issue 25, items 3 and 7; docs/multi-host.md): a
//! bastion frozen past its lease writes nothing over the version another bastion stored
//! meanwhile; two `renew --until-next` bastions never work on one certificate at once, and
//! one takes a dead one's certificates over within about a lease; an ARI answer one bastion
//! polled serves the others. Pebble, BIND and PostgreSQL are real, on loopback.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wildcert_testkit::BindOptions;

use crate::interrupt::{WAITING, dead_addr};
use crate::lab::{Lab, json};
use crate::multihost::{Shared, bastion, config, issued_at_ca};

/// Every bounded poll here looks this often.
const POLL: Duration = Duration::from_millis(50);

/// A `wildcert` bastion running in the background, its output going to files; killed (and
/// reaped) on drop if still running.
struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn start(lab: &Lab, state: &Path, args: &[&str], tag: &str) -> Background {
        let stdout = state.join(format!("{tag}.stdout"));
        let stderr = state.join(format!("{tag}.stderr"));
        let mut cmd = lab.command_at(&lab.pebble.directory_url(), args, &[]);
        cmd.arg("--state-dir")
            .arg(state)
            .stdout(Stdio::from(File::create(&stdout).expect("stdout file")))
            .stderr(Stdio::from(File::create(&stderr).expect("stderr file")));
        Background {
            child: cmd.spawn().expect("wildcert starts"),
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait (bounded) until the output contains `needle`; false if it did not in time.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> bool {
        poll(limit, || {
            let out = self.output();
            (out.contains(needle) || !self.running()).then_some(out.contains(needle))
        })
        .unwrap_or(false)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} failed");
    }

    /// Wait (bounded) for the exit; `None` when it was still running after `limit` (then it
    /// is killed).
    fn finish(&mut self, limit: Duration) -> Option<i32> {
        let status = poll(limit, || self.child.try_wait().ok().flatten());
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        status.and_then(|s| s.code())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Call `f` every [`POLL`] until it gives a value, for at most `limit`.
fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// One SQL query's rows (psql's unaligned, tuples-only output).
fn rows(shared: &Shared, sql: &str) -> Vec<String> {
    shared
        .pg
        .psql("wildcert", sql)
        .expect("psql")
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The store's object keys under `prefix`.
fn keys(shared: &Shared, prefix: &str) -> Vec<String> {
    rows(
        shared,
        &format!("SELECT key FROM wildcert_objects WHERE key LIKE '{prefix}%' ORDER BY key"),
    )
}

/// An object's value as text.
fn text(shared: &Shared, key: &str) -> String {
    rows(
        shared,
        &format!("SELECT convert_from(value, 'UTF8') FROM wildcert_objects WHERE key = '{key}'"),
    )
    .join("\n")
}

/// Who holds lock `name` now (an unexpired lease), if anyone.
fn holder(shared: &Shared, name: &str) -> Option<String> {
    rows(
        shared,
        &format!("SELECT holder FROM wildcert_leases WHERE name = '{name}' AND expires_at > now()"),
    )
    .pop()
}

/// `show NAME --json` from a bastion with an empty state directory: what the database says.
fn show(lab: &Lab, shared: &Shared, name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config(dir.path(), shared, "60s", &[]);
    let run = bastion(
        lab,
        dir.path(),
        &[
            "--config",
            cfg.to_str().expect("utf-8"),
            "--json",
            "show",
            name,
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    json(&run)
}

/// A certificate stored whole once: version 1 live, its metadata naming it, no other version.
fn assert_one_version(lab: &Lab, shared: &Shared, name: &str) {
    let v = show(lab, shared, name);
    assert_eq!(
        v["certificate"]["archive_versions"],
        serde_json::json!([1]),
        "{v}"
    );
    assert_eq!(v["certificate"]["meta"]["version"], 1, "{v}");
    let stored = keys(shared, &format!("certs/{name}/"));
    for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        let key = format!("certs/{name}/archive/1/{file}");
        assert!(stored.contains(&key), "{key} missing: {stored:?}");
    }
    assert!(
        !stored.iter().any(|k| k.contains("/archive/2/")),
        "{stored:?}"
    );
}

#[test]
fn a_bastion_frozen_past_its_lease_writes_nothing_and_the_other_bastions_version_stands() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![("frozen", vec!["frozen.example.test".to_string()])];
    let a = tempfile::tempdir().expect("a");
    let b = tempfile::tempdir().expect("b");
    let cfg_a = config(a.path(), &shared, "2s", &certs);
    let cfg_b = config(b.path(), &shared, "2s", &certs);
    let record = "_acme-challenge.frozen.example.test";

    // Bastion A publishes and waits for propagation (its only authoritative server never
    // serves the value, so it waits there), holding the certificate's lease; then it is frozen.
    let dead = dead_addr();
    let mut frozen = Background::start(
        &lab,
        a.path(),
        &[
            "--config",
            cfg_a.to_str().expect("utf-8"),
            "--authoritative",
            &dead,
            "--propagation-timeout",
            "60s",
            "renew",
        ],
        "a",
    );
    assert!(
        frozen.wait_for(WAITING, Duration::from_secs(60)),
        "A never reached the propagation wait:\n{}",
        frozen.output()
    );
    assert_eq!(lab.primary_txt(record).len(), 1, "{}", frozen.output());
    assert!(
        holder(&shared, "frozen").is_some_and(|h| h.ends_with(&format!("pid {}", frozen.pid())))
    );
    frozen.signal("STOP");

    // Past its lease, nobody holds the certificate; bastion B issues it.
    assert!(
        poll(Duration::from_secs(10), || holder(&shared, "frozen")
            .is_none()
            .then_some(()))
        .is_some(),
        "A's lease did not run out"
    );
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "--json",
            "renew",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["issued"], 1, "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 1);
    let b_cert =
        std::fs::read_to_string(b.path().join("certs/frozen/live/cert.pem")).expect("B's copy");

    // A wakes up: it stops that certificate at once, says why, and writes nothing.
    let woke = Instant::now();
    frozen.signal("CONT");
    let code = frozen.finish(Duration::from_secs(30));
    let out = frozen.output();
    assert!(
        code.is_some(),
        "A kept waiting for a certificate whose lease it lost:\n{out}"
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(woke.elapsed() < Duration::from_secs(15), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    let told: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("lease `frozen`") && l.contains("was lost"))
        .collect();
    assert!(!told.is_empty(), "the lost lease is not said:\n{out}");
    eprintln!(
        "A woke up and exited {code:?} after {:?}:\n{out}",
        woke.elapsed()
    );
    assert!(
        !a.path().join("certs/frozen/live/cert.pem").exists(),
        "A installed a copy:\n{out}"
    );

    // The store is B's: one version, whole, the metadata naming it, B's certificate live;
    // no record, no journal entry, no lease left; nothing more issued.
    assert_one_version(&lab, &shared, "frozen");
    assert_eq!(
        text(&shared, "certs/frozen/archive/1/cert.pem").trim(),
        b_cert.trim(),
        "the live certificate is not B's"
    );
    assert!(keys(&shared, "journal/").is_empty(), "{out}");
    assert!(lab.primary_txt(record).is_empty(), "{out}");
    assert_eq!(holder(&shared, "frozen"), None);
    assert_eq!(issued_at_ca(&lab), 1);
}

#[test]
fn two_standby_bastions_never_share_a_certificate_and_one_takes_over_a_dead_ones_within_a_lease() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    const LEASE: Duration = Duration::from_secs(2);
    let names = ["sb1", "sb2", "sb3"];
    let certs: Vec<(&str, Vec<String>)> = names
        .iter()
        .map(|n| (*n, vec![format!("{n}.example.test")]))
        .collect();
    let a = tempfile::tempdir().expect("a");
    let b = tempfile::tempdir().expect("b");
    let cfg_a = config(a.path(), &shared, "2s", &certs);
    let cfg_b = config(b.path(), &shared, "2s", &certs);

    // Bastion A takes every certificate and stays in its propagation wait (its authoritative
    // server never serves the values).
    let dead = dead_addr();
    let mut first = Background::start(
        &lab,
        a.path(),
        &[
            "--config",
            cfg_a.to_str().expect("utf-8"),
            "--authoritative",
            &dead,
            "--propagation-timeout",
            "60s",
            "renew",
            "--until-next",
        ],
        "a",
    );
    assert!(
        first.wait_for(WAITING, Duration::from_secs(60)),
        "A never reached the propagation wait:\n{}",
        first.output()
    );
    let a_pid = format!("pid {}", first.pid());
    for n in names {
        assert!(
            holder(&shared, n).is_some_and(|h| h.ends_with(&a_pid)),
            "{n}: {:?}\n{}",
            holder(&shared, n),
            first.output()
        );
    }

    // Bastion B, up beside it, works on none of them and looks again within the lease.
    let mut standby = Background::start(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "renew",
            "--until-next",
        ],
        "b",
    );
    assert!(
        standby.wait_for("next round in", Duration::from_secs(60)),
        "{}",
        standby.output()
    );
    let out = standby.output();
    assert!(out.contains("working on it"), "{out}");
    // Looked at again when A's lease would run out (A renews it meanwhile).
    let next: f64 = out
        .split("next round in ")
        .nth(1)
        .and_then(|t| t.split(" s").next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no wait said:\n{out}"));
    assert!(
        next <= LEASE.as_secs_f64() + 0.1,
        "a certificate another bastion holds must be looked at again within its lease:\n{out}"
    );
    assert_eq!(issued_at_ca(&lab), 0, "{out}");
    assert!(first.running() && standby.running());

    // A dies; B takes every certificate over within one lease (A renewed it at most a lease
    // before; B looks again when it runs out).
    first.signal("KILL");
    let killed = Instant::now();
    assert!(first.finish(Duration::from_secs(10)).is_none_or(|c| c != 0));
    let b_pid = format!("pid {}", standby.pid());
    let took = poll(Duration::from_secs(30), || {
        let by_b = holder(&shared, "sb1").is_some_and(|h| h.ends_with(&b_pid));
        (by_b || issued_at_ca(&lab) > 0).then(|| killed.elapsed())
    });
    let took = took.unwrap_or_else(|| panic!("B never took over:\n{}", standby.output()));
    eprintln!("standby took over {took:?} after the kill (lease {LEASE:?})");
    assert!(
        took <= LEASE + Duration::from_secs(1),
        "B took {took:?} to take over (lease {LEASE:?}):\n{}",
        standby.output()
    );
    let stored = || {
        names
            .iter()
            .all(|n| !keys(&shared, &format!("certs/{n}/live")).is_empty())
    };
    assert!(
        poll(Duration::from_secs(60), || stored().then_some(())).is_some(),
        "B did not store all three:\n{}",
        standby.output()
    );
    // Each ordered once at the CA; each stored once, whole.
    assert_eq!(issued_at_ca(&lab), 3, "{}", standby.output());
    for n in names {
        assert_one_version(&lab, &shared, n);
    }
    // A's records are gone (B removed them, A being dead), and B's: the journal is empty.
    assert!(
        poll(Duration::from_secs(10), || keys(&shared, "journal/")
            .is_empty()
            .then_some(()))
        .is_some(),
        "{:?}\n{}",
        keys(&shared, "journal/"),
        standby.output()
    );
    for n in names {
        assert!(
            lab.primary_txt(&format!("_acme-challenge.{n}.example.test"))
                .is_empty(),
            "{n}"
        );
    }
    // B is still up, asleep until the next certificate is due (12 h at most), and stops
    // cleanly (a signal during a round would be exit 130: interrupted).
    assert!(
        standby.wait_for("next round in 43200 s", Duration::from_secs(30)),
        "{}",
        standby.output()
    );
    assert!(standby.running(), "{}", standby.output());
    standby.signal("TERM");
    assert_eq!(
        standby.finish(Duration::from_secs(30)),
        Some(0),
        "{}",
        standby.output()
    );
}

#[test]
fn an_ari_answer_one_bastion_polled_serves_the_others() {
    let Some(lab) = crate::ari::upstream_lab() else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![("shared-ari", vec!["shared-ari.example.test".to_string()])];
    let a = tempfile::tempdir().expect("a");
    let b = tempfile::tempdir().expect("b");
    let cfg_a = config(a.path(), &shared, "60s", &certs);
    let cfg_b = config(b.path(), &shared, "60s", &certs);
    let renew = |dir: &Path, cfg: &Path| {
        bastion(
            &lab,
            dir,
            &["--config", cfg.to_str().expect("utf-8"), "--json", "renew"],
        )
    };
    // renewalInfo requests Pebble answered.
    let polls = || {
        lab.pebble
            .log()
            .matches("renewalInfo/ -> calling handler")
            .count()
    };

    let run = renew(a.path(), &cfg_a);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["issued"], 1, "{}", run.all());
    let issued = polls();

    // A's next run asks the CA (the window is due to be checked right after issuance) and
    // stores the answer with its next check time.
    let run = renew(a.path(), &cfg_a);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["skipped"], 1, "{}", run.all());
    assert_eq!(polls(), issued + 1, "{}", run.all());
    let meta = &show(&lab, &shared, "shared-ari")["certificate"]["meta"];
    assert!(meta["ari_renew_at"].is_string(), "not stored: {meta}");
    let next = meta["ari_next_check"].as_str().unwrap_or_default();
    let next = time::OffsetDateTime::parse(next, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("ari_next_check {next:?}: {e}"));
    assert!(next > time::OffsetDateTime::now_utc() + time::Duration::hours(5));

    // B, right after, uses that answer: no second poll before ari_next_check.
    let run = renew(b.path(), &cfg_b);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["skipped"], 1, "{}", run.all());
    assert_eq!(polls(), issued + 1, "B polled ARI again:\n{}", run.all());
    assert_eq!(issued_at_ca(&lab), 1);
}

#[test]
fn a_standby_looks_again_when_the_holders_lease_runs_out_not_after_its_own_half_lease() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![("ghost", vec!["ghost.example.test".to_string()])];
    let b = tempfile::tempdir().expect("b");
    // B's own lease is the default minute; the holder's (a bastion that died holding the
    // certificate, with a shorter lease of its own) runs out in 2 s.
    // A run with nothing configured (so nothing to renew, exit 2) creates the schema and the
    // data key.
    let empty = config(b.path(), &shared, "60s", &[]);
    let run = bastion(
        &lab,
        b.path(),
        &["--config", empty.to_str().expect("utf-8"), "renew"],
    );
    assert!(
        run.all().contains("store schema migrated") && shared.key_file.exists(),
        "{}",
        run.all()
    );
    let cfg_b = config(b.path(), &shared, "60s", &certs);
    const LEFT: Duration = Duration::from_secs(2);
    rows(
        &shared,
        &format!(
            "INSERT INTO wildcert_leases (name, holder, expires_at, token)
             VALUES ('ghost', 'gone.example pid 4242', now() + interval '{} milliseconds',
                     nextval('wildcert_fence'))",
            LEFT.as_millis()
        ),
    );
    let planted = Instant::now();
    let mut standby = Background::start(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "renew",
            "--until-next",
        ],
        "b",
    );
    assert!(
        standby.wait_for("next round in", Duration::from_secs(60)),
        "{}",
        standby.output()
    );
    let out = standby.output();
    assert!(out.contains("gone.example pid 4242"), "{out}");
    // B took the certificate over once the dead holder's lease ran out: not half its own
    // lease (30 s) later.
    let b_pid = format!("pid {}", standby.pid());
    let took = poll(Duration::from_secs(40), || {
        (holder(&shared, "ghost").is_some_and(|h| h.ends_with(&b_pid)) || issued_at_ca(&lab) > 0)
            .then(|| planted.elapsed())
    });
    let took = took.unwrap_or_else(|| panic!("B never took over:\n{}", standby.output()));
    eprintln!("standby took over {took:?} after a lease with {LEFT:?} left was planted");
    assert!(
        took <= LEFT + Duration::from_millis(1500),
        "B took {took:?} for a lease that ran out after {LEFT:?}:\n{}",
        standby.output()
    );
    assert!(
        poll(Duration::from_secs(30), || (!keys(
            &shared,
            "certs/ghost/live"
        )
        .is_empty())
        .then_some(()))
        .is_some(),
        "{}",
        standby.output()
    );
    assert_eq!(issued_at_ca(&lab), 1, "{}", standby.output());
    // Stopped between rounds (a signal during one would be exit 130: interrupted).
    assert!(
        standby.wait_for("next round in 43200 s", Duration::from_secs(30)),
        "{}",
        standby.output()
    );
    standby.signal("TERM");
    assert_eq!(
        standby.finish(Duration::from_secs(30)),
        Some(0),
        "{}",
        standby.output()
    );
}
