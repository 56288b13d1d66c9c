//! Two bastions on one PostgreSQL store, racing and failing (issue 25, "Tests against the real
//! thing"): two `renew` processes started at once over 50 certificates; one killed with
//! SIGKILL mid-run; the database going away mid-run and coming back. Pebble, BIND and
//! PostgreSQL are real, on loopback.
//!
//! "Ordered once" is counted at the CA: Pebble logs `Added order` for every new order and
//! `Issued certificate serial S for order O` for every issuance; each certificate's stored
//! `meta.json` names its order, so every name is checked against the CA's own log.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, RUN_LIMIT, Run, json};
use crate::multihost::{Shared, config};

const ZONE: &str = "example.test";

/// `n` certificates `c01` … each for `cNN.example.test`.
fn certs(n: usize) -> Vec<(String, Vec<String>)> {
    (1..=n)
        .map(|i| (format!("c{i:02}"), vec![format!("c{i:02}.{ZONE}")]))
        .collect()
}

/// [`config`] for owned names.
fn config_for(dir: &Path, shared: &Shared, lease: &str, certs: &[(String, Vec<String>)]) -> String {
    let borrowed: Vec<(&str, Vec<String>)> =
        certs.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    config(dir, shared, lease, &borrowed)
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// A `wildcert` process running in the background, its output drained as it runs.
struct Bastion {
    child: Child,
    out: JoinHandle<String>,
    err: JoinHandle<String>,
    started: Instant,
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

impl Bastion {
    /// `wildcert --config CONFIG --json renew` with its own state directory.
    fn renew(lab: &Lab, state: &Path, config: &str) -> Bastion {
        Bastion::spawn(lab, state, &["--config", config, "--json", "renew"])
    }

    /// `wildcert ARGS` with its own state directory.
    fn spawn(lab: &Lab, state: &Path, args: &[&str]) -> Bastion {
        let mut cmd: Command = lab.command_at(&lab.pebble.directory_url(), args, &[]);
        // The lab's --state-dir comes first; the last one given wins.
        cmd.arg("--state-dir").arg(state);
        let mut child = cmd.spawn().expect("wildcert starts");
        Bastion {
            out: drain(child.stdout.take()),
            err: drain(child.stderr.take()),
            child,
            started: Instant::now(),
        }
    }

    /// Waits for the exit, killing it past `limit`.
    fn wait(mut self, limit: Duration) -> Run {
        let status = loop {
            match self.child.try_wait().expect("wait") {
                Some(s) => break Some(s),
                None if self.started.elapsed() > limit => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        Run {
            code: status.and_then(|s| s.code()),
            stdout: self.out.join().unwrap_or_default(),
            stderr: self.err.join().unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }

    /// SIGKILL, and reaped (so its pid is gone from /proc).
    fn kill9(mut self) -> Run {
        self.child.kill().expect("SIGKILL");
        self.wait(Duration::from_secs(10))
    }
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `limit`.
fn poll_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    for _ in 0..(limit.as_millis() / 50 + 1) {
        if check() {
            return;
        }
        if start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}");
}

/// One number from SQL run as the superuser in the store's database.
fn count(shared: &Shared, sql: &str) -> usize {
    let out = shared.pg.psql("wildcert", sql).expect("psql");
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("`{sql}` gave {out:?}"))
}

/// Journal entries, or `None` before the first bastion created the schema.
fn journal_polled(shared: &Shared) -> Option<usize> {
    let sql = "SELECT count(*) FROM wildcert_objects WHERE key ~ '^journal/'";
    shared.pg.psql("wildcert", sql).ok()?.trim().parse().ok()
}

fn keys_like(shared: &Shared, pattern: &str) -> usize {
    count(
        shared,
        &format!("SELECT count(*) FROM wildcert_objects WHERE key ~ '{pattern}'"),
    )
}

/// Certificates with a live version in the database.
fn live(shared: &Shared) -> usize {
    keys_like(shared, "^certs/[^/]+/live$")
}

/// Journal entries in the database.
fn journal(shared: &Shared) -> usize {
    keys_like(shared, "^journal/")
}

/// Unexpired leases.
fn leases_held(shared: &Shared) -> usize {
    count(
        shared,
        "SELECT count(*) FROM wildcert_leases WHERE expires_at > now()",
    )
}

/// TXT records left in the zone (a zone transfer from the primary).
fn zone_txt(lab: &Lab) -> Vec<(String, String)> {
    lab.bind.zone_txt(ZONE).expect("zone transfer")
}

/// What the CA did: orders placed and order ids issued.
struct AtCa {
    orders: usize,
    issued: Vec<String>,
}

fn at_ca(lab: &Lab) -> AtCa {
    let log = lab.pebble.log();
    AtCa {
        orders: log.matches("Added order").count(),
        issued: log
            .lines()
            .filter_map(|l| l.split("Issued certificate serial ").nth(1))
            .filter_map(|rest| rest.split(" for order ").nth(1))
            .map(|o| o.trim().trim_matches('"').to_owned())
            .collect(),
    }
}

/// Each certificate's order, from its stored meta.json.
fn stored_orders(shared: &Shared) -> BTreeMap<String, String> {
    let out = shared
        .pg
        .psql(
            "wildcert",
            "SELECT split_part(key, '/', 2) || ' ' || (convert_from(value, 'UTF8')::json ->> 'order_url') \
             FROM wildcert_objects WHERE key ~ '^certs/[^/]+/meta.json$' ORDER BY key",
        )
        .expect("psql");
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, o)| (n.to_owned(), o.to_owned()))
        .collect()
}

/// Every version in the database is whole (its five objects) and `live` names one of them.
fn versions_whole(shared: &Shared) -> Result<usize, String> {
    let out = shared
        .pg
        .psql(
            "wildcert",
            "SELECT key FROM wildcert_objects WHERE key ~ '^certs/[^/]+/(live|archive/.*)$' ORDER BY key",
        )
        .expect("psql");
    let mut versions: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut lives = Vec::new();
    for key in out.lines() {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["certs", name, "live"] => lives.push(name.to_string()),
            ["certs", name, "archive", n, file] => {
                versions
                    .entry((name.to_string(), n.to_string()))
                    .or_default()
                    .insert(file.to_string());
            }
            _ => return Err(format!("unexpected key {key}")),
        }
    }
    let whole: BTreeSet<String> = [
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "meta.json",
        "privkey.pem",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for ((name, n), files) in &versions {
        if files != &whole {
            return Err(format!("{name} version {n} is partial: {files:?}"));
        }
    }
    for name in &lives {
        let v = shared
            .pg
            .psql(
                "wildcert",
                &format!(
                    "SELECT convert_from(value, 'UTF8') FROM wildcert_objects WHERE key = 'certs/{name}/live'"
                ),
            )
            .expect("psql");
        if !versions.contains_key(&(name.clone(), v.trim().to_owned())) {
            return Err(format!("{name}: live names version {v:?}, which is absent"));
        }
    }
    Ok(versions.len())
}

/// After everything settled: every certificate live once, its order the only one the CA issued
/// for it, no record in the zone, the journal and the pending keys gone.
fn assert_settled(lab: &Lab, shared: &Shared, n: usize, context: &str) {
    assert_eq!(live(shared), n, "certificates live\n{context}");
    assert_eq!(
        versions_whole(shared),
        Ok(n),
        "one whole version each\n{context}"
    );
    let ca = at_ca(lab);
    assert_eq!(
        ca.issued.len(),
        n,
        "certificates issued by the CA\n{context}"
    );
    assert_eq!(ca.orders, n, "orders placed at the CA\n{context}");
    let issued: BTreeSet<&str> = ca.issued.iter().map(String::as_str).collect();
    let orders = stored_orders(shared);
    assert_eq!(orders.len(), n, "{orders:?}");
    let distinct: BTreeSet<&String> = orders.values().collect();
    assert_eq!(
        distinct.len(),
        n,
        "two certificates share an order: {orders:?}"
    );
    for (name, url) in &orders {
        let id = url.rsplit('/').next().unwrap_or_default();
        assert!(
            issued.contains(id),
            "{name}: its order {url} is not one the CA issued for ({issued:?})"
        );
    }
    assert_eq!(zone_txt(lab), Vec::new(), "TXT records left\n{context}");
    assert_eq!(journal(shared), 0, "journal entries left\n{context}");
    assert_eq!(
        keys_like(shared, "^certs/[^/]+/pending-key.pem$"),
        0,
        "journaled keys left\n{context}"
    );
}

fn summary(run: &Run, what: &str) -> u64 {
    json(run)["summary"][what].as_u64().unwrap_or(0)
}

/// Two bastions, two processes with their own state directories, started at the same moment
/// on one database and 50 due certificates: each certificate is ordered and issued exactly
/// once, both exit 0, and nothing is left behind.
#[test]
fn two_bastions_racing_over_fifty_certificates_order_each_once() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = certs(50);
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let cfg_a = config_for(a.path(), &shared, "60s", &certs);
    let cfg_b = config_for(b.path(), &shared, "60s", &certs);

    let start = Instant::now();
    let first = Bastion::renew(&lab, a.path(), &cfg_a);
    let second = Bastion::renew(&lab, b.path(), &cfg_b);
    let run_a = first.wait(RUN_LIMIT);
    let run_b = second.wait(RUN_LIMIT);
    let wall = start.elapsed();
    let both = format!(
        "--- bastion a\n{}\n--- bastion b\n{}",
        run_a.all(),
        run_b.all()
    );
    assert_eq!(run_a.code, Some(0), "{both}");
    assert_eq!(run_b.code, Some(0), "{both}");
    // About 10 s here; a bastion whose main thread lost a wake-up (a nested block_on on it)
    // sat until its 30 s heartbeat, or for good.
    assert!(wall < Duration::from_secs(30), "{wall:?}: stalled\n{both}");
    let issued = summary(&run_a, "issued") + summary(&run_b, "issued");
    let skipped = summary(&run_a, "skipped") + summary(&run_b, "skipped");
    assert_eq!((issued, skipped), (50, 50), "{both}");
    assert_eq!(summary(&run_a, "failed") + summary(&run_b, "failed"), 0);
    assert_settled(&lab, &shared, 50, &both);
    eprintln!(
        "FIGURES race: 50 certificates, 2 bastions, wall {:.1} s (a {:.1} s issued {}, b {:.1} s issued {}), {} orders and {} issuances at the CA",
        wall.as_secs_f64(),
        run_a.elapsed.as_secs_f64(),
        summary(&run_a, "issued"),
        run_b.elapsed.as_secs_f64(),
        summary(&run_b, "issued"),
        at_ca(&lab).orders,
        at_ca(&lab).issued.len(),
    );
}

/// A bastion killed with SIGKILL once its records are published: another bastion run while
/// its leases hold skips its certificates and exits 0; run after the leases expired, it
/// removes the dead one's records, resumes its orders (never ordering again) and issues the
/// rest; the next run finds nothing to do and nothing left.
#[test]
fn a_bastion_killed_mid_run_is_finished_by_the_other_after_the_lease_without_a_second_order() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let n = 10;
    let certs = certs(n);
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    // A short lease: the dead bastion's certificates are free again 6 s after its last renewal.
    let cfg_a = config_for(a.path(), &shared, "6s", &certs);
    let cfg_b = config_for(b.path(), &shared, "6s", &certs);

    let doomed = Bastion::renew(&lab, a.path(), &cfg_a);
    poll_until(
        "bastion a publishes its records",
        Duration::from_secs(60),
        || journal_polled(&shared).is_some_and(|n| n > 0),
    );
    let killed = doomed.kill9();
    assert_eq!(killed.code, None, "killed by a signal\n{}", killed.all());
    let published = zone_txt(&lab);
    assert!(
        !published.is_empty(),
        "killed before anything was published"
    );
    let held = leases_held(&shared);
    assert!(
        held > 0,
        "the dead bastion's leases lasted less than the test's reaction"
    );
    let live_at_kill = live(&shared);

    // While the dead bastion's leases last: its certificates are another bastion's, skipped.
    let run = Bastion::renew(&lab, b.path(), &cfg_b).wait(RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    // Its records stay while its lease says it may be alive (it may be on another host).
    assert!(!zone_txt(&lab).is_empty(), "{}", run.all());
    assert!(
        summary(&run, "skipped") as usize >= held.min(n - live_at_kill),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("is working on it"),
        "said who holds them\n{}",
        run.all()
    );
    assert_eq!(
        at_ca(&lab).orders,
        n,
        "the held certificates were ordered again"
    );

    // After the lease: any bastion may take them over (and clean up after the dead one).
    poll_until(
        "the dead bastion's leases expire",
        Duration::from_secs(20),
        || leases_held(&shared) == 0,
    );
    let run = Bastion::renew(&lab, b.path(), &cfg_b).wait(RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        summary(&run, "issued") as usize,
        n - live_at_kill,
        "{}",
        run.all()
    );
    assert!(
        run.stderr
            .contains("resuming the order of an interrupted run"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr
            .contains("removing records left by an interrupted run"),
        "the dead bastion's records were removed by this one\n{}",
        run.all()
    );
    assert_settled(&lab, &shared, n, &run.all());

    // And the next run: nothing due, nothing ordered, nothing left.
    let run = Bastion::renew(&lab, a.path(), &cfg_a).wait(RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(summary(&run, "skipped") as usize, n, "{}", run.all());
    assert_settled(&lab, &shared, n, &run.all());
}

/// The database stopped while a run is between publishing and storing: the run fails (exit
/// non-zero) naming the database with a hint, leaves no partial version, and once the
/// database is back the next run recovers: everything issued, one order each, nothing left.
#[test]
fn the_database_going_away_mid_run_fails_cleanly_and_the_next_run_recovers() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(mut shared) = Shared::start() else {
        return;
    };
    let n = 6;
    let certs = certs(n);
    let a = tempfile::tempdir().expect("a");
    // The failed run cannot release its leases (the database is away when it ends): they
    // expire. A short lease keeps the wait short.
    let cfg = config_for(a.path(), &shared, "5s", &certs);

    // Said to a person (not --json): the one failure line is what this test reads.
    let bastion = Bastion::spawn(&lab, a.path(), &["--config", &cfg, "renew"]);
    poll_until(
        "the run publishes its records",
        Duration::from_secs(60),
        || journal_polled(&shared).is_some_and(|n| n > 0),
    );
    shared.pg.stop().expect("the database stops");
    let run = bastion.wait(Duration::from_secs(90));
    let target = format!("127.0.0.1:{}", shared.pg.port());
    assert!(
        run.code.is_some(),
        "the run hung without its database\n{}",
        run.all()
    );
    assert_ne!(run.code, Some(0), "{}", run.all());
    // One line names the database and every certificate it failed, one hint follows.
    let failed: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", run.all());
    assert!(
        failed[0].contains(&format!("PostgreSQL at {target} is unavailable")),
        "names the database\n{}",
        run.all()
    );
    let hints: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| {
            l.trim_start()
                .starts_with("hint: check that the server runs and is reachable")
        })
        .collect();
    assert_eq!(hints.len(), 1, "with a hint\n{}", run.all());
    assert!(!run.all().contains("panicked"), "{}", run.all());

    shared.pg.start_again().expect("the database comes back");
    assert!(
        versions_whole(&shared).is_ok(),
        "{:?}",
        versions_whole(&shared)
    );
    poll_until(
        "the failed run's leases expire",
        Duration::from_secs(20),
        || leases_held(&shared) == 0,
    );

    let run = Bastion::renew(&lab, a.path(), &cfg).wait(RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_settled(&lab, &shared, n, &run.all());
}

/// A bastion killed after the CA issued its certificate, while the version is being stored
/// (held there: another session locks the certificate's `live` row until the kill): no partial
/// version, whatever the database did with the write in flight; the next run on the other
/// bastion orders nothing again and leaves no record or journal entry behind.
#[test]
fn a_bastion_killed_while_storing_an_issued_certificate_leaves_no_partial_version_and_no_second_order()
 {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = certs(1);
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let cfg_a = config_for(a.path(), &shared, "3s", &certs);
    let cfg_b = config_for(b.path(), &shared, "3s", &certs);
    let run = Bastion::renew(&lab, a.path(), &cfg_a).wait(RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(at_ca(&lab).issued.len(), 1, "{}", run.all());

    // Another session holds `live` of c01 (an open transaction, `FOR UPDATE`).
    let mut holder = Command::new(shared.pg.bin_dir().join("psql"))
        .arg(&shared.url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let mut stdin = holder.stdin.take().expect("stdin");
    std::io::Write::write_all(
        &mut stdin,
        b"BEGIN;\nSELECT 1 FROM wildcert_objects WHERE key = 'certs/c01/live' FOR UPDATE;\n",
    )
    .expect("to psql");
    poll_until("the row lock is held", Duration::from_secs(20), || {
        count(
            &shared,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'",
        ) == 1
    });

    // A forced renewal: ordered, validated, issued by the CA, then held storing the version.
    let doomed = Bastion::spawn(
        &lab,
        a.path(),
        &["--config", &cfg_a, "--json", "renew", "--force"],
    );
    poll_until(
        "the CA issues and the bastion waits storing it",
        Duration::from_secs(60),
        || {
            at_ca(&lab).issued.len() == 2
                && count(
                    &shared,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                ) >= 1
        },
    );
    let killed = doomed.kill9();
    assert_eq!(killed.code, None, "killed by a signal\n{}", killed.all());
    // Let the write in flight go on (or not): the row lock ends.
    std::io::Write::write_all(&mut stdin, b"ROLLBACK;\n").expect("to psql");
    drop(stdin);
    let _ = holder.wait();
    poll_until(
        "the dead bastion's session ends",
        Duration::from_secs(20),
        || {
            count(
                &shared,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'wildcert' AND pid <> pg_backend_pid()",
            ) == 0
        },
    );
    assert_eq!(versions_whole(&shared).map(|n| n >= 1), Ok(true));

    // After the lease: the other bastion's renew orders nothing (the certificate is not due)
    // and removes what the dead one left.
    poll_until(
        "the dead bastion's leases expire",
        Duration::from_secs(20),
        || leases_held(&shared) == 0,
    );
    let run = Bastion::renew(&lab, b.path(), &cfg_b).wait(RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(summary(&run, "skipped"), 1, "{}", run.all());
    let ca = at_ca(&lab);
    assert_eq!((ca.orders, ca.issued.len()), (2, 2), "{}", run.all());
    assert_eq!(live(&shared), 1);
    assert!(
        versions_whole(&shared).is_ok(),
        "{:?}",
        versions_whole(&shared)
    );
    assert_eq!(
        zone_txt(&lab),
        Vec::new(),
        "TXT records left\n{}",
        run.all()
    );
    assert_eq!(journal(&shared), 0, "journal entries left\n{}", run.all());
    // The forced renewal's journaled key stays (sealed) until the certificate's next
    // issuance, which replaces and removes it (docs/multi-host.md, "Failure cases").
    assert!(keys_like(&shared, "^certs/[^/]+/pending-key.pem$") <= 1);
    assert!(
        !shared
            .pg
            .pg_dump("wildcert")
            .expect("pg_dump")
            .contains("PRIVATE KEY")
    );
}
