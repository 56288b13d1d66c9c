//! A certificate's life from `issue` on: `renew` renews what `issue` made (with the request
//! it recorded), a `[[certificate]]` entry wins for its name, and `delete` takes it out of
//! the store and of renewal.

use std::path::{Path, PathBuf};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run, json};

/// `wildcert issue` of `name` for `domain` with a deploy hook that appends `tag` to `log`.
fn issue(lab: &Lab, name: &str, domain: &str, log: &Path, tag: &str) -> Run {
    let hook = format!(
        "echo \"{tag} $WILDCERT_CERT_NAME $WILDCERT_CERT_VERSION\" >> {}",
        log.display()
    );
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            domain,
            "--cert-name",
            name,
            "--dns",
            "rfc2136",
            "--key-type",
            "ec384",
            "--deploy-hook",
            &hook,
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    run
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The names in a `renew --json` document, each with its outcome.
fn outcomes(run: &Run) -> Vec<(String, String)> {
    json(run)["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("no certificates array: {}", run.all()))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn config(lab: &Lab, body: &str) -> PathBuf {
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &path,
        format!("[providers.lab]\nkind = \"rfc2136\"\n\n{body}"),
    )
    .expect("write config");
    path
}

#[test]
fn renew_without_config_renews_what_issue_made_with_its_recorded_request() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hook.log");
    issue(&lab, "www", "www.example.test", &log, "issued");
    assert_eq!(lines(&log), ["issued www 1"]);

    // The request is recorded with the certificate, and `show` says renew takes it from there.
    let run = lab.wildcert(&["--json", "show", "www"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(
        v["certificate"]["renewal"]["source"],
        "recorded",
        "{}",
        run.all()
    );
    let req = &v["certificate"]["meta"]["request"];
    assert_eq!(req["domains"], serde_json::json!(["www.example.test"]));
    assert_eq!(req["provider"], "rfc2136");
    assert_eq!(req["key_type"], "ec384");
    assert_eq!(req["server"], lab.pebble.directory_url().as_str());

    // No config at all: renew --force renews it (version 2), with the recorded hook and key type.
    let run = lab.wildcert(&["--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        outcomes(&run),
        [("www".to_string(), "renewed".to_string())],
        "{}",
        run.all()
    );
    assert_eq!(json(&run)["certificates"][0]["certificate"]["version"], 2);
    assert!(
        lab.state_dir()
            .join("certs/www/archive/2/cert.pem")
            .exists()
    );
    assert_eq!(lines(&log), ["issued www 1", "issued www 2"]);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.state_dir().join("certs/www/meta.json")).expect("meta"),
    )
    .expect("meta.json");
    assert_eq!(meta["key_type"], "ec384", "{meta}");
    // Still recorded after the renewal: the next renew finds it again (and it is not due).
    assert_eq!(meta["request"]["provider"], "rfc2136", "{meta}");
    let run = lab.wildcert(&["--json", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        outcomes(&run),
        [("www".to_string(), "skipped".to_string())],
        "{}",
        run.all()
    );

    // A run given another CA does not move it there: a failure that says why (issue 23:
    // it was a silent skip with exit 0).
    let other = "https://127.0.0.1:9/dir";
    let run = lab.wildcert_at(other, &["--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["certificates"][0]["outcome"], "failed", "{}", run.all());
    let detail = v["certificates"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("recorded by `issue` with the CA") && detail.contains(other),
        "{}",
        run.all()
    );
    assert_eq!(lines(&log).len(), 2);
}

#[test]
fn a_config_entry_wins_over_the_recorded_request_for_its_name() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hook.log");
    issue(&lab, "www", "www.example.test", &log, "recorded");
    let cfg = config(
        &lab,
        &format!(
            "[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\nkey_type = \"ec256\"\ndeploy_hook = \"echo \\\"config $WILDCERT_CERT_NAME $WILDCERT_CERT_VERSION\\\" >> {}\"\n",
            log.display()
        ),
    );
    let cfg = cfg.to_str().expect("utf-8");
    let run = lab.wildcert(&["--config", cfg, "--json", "show", "www"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["certificate"]["renewal"]["source"], "config");
    let run = lab.wildcert(&["--config", cfg, "show", "www"], &[]);
    assert!(
        run.stdout.contains("[[certificate]] in the config"),
        "{}",
        run.all()
    );

    let run = lab.wildcert(&["--config", cfg, "--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    // Once, by the config's entry: its hook and key type, not the recorded ones.
    assert_eq!(
        outcomes(&run),
        [("www".to_string(), "renewed".to_string())],
        "{}",
        run.all()
    );
    assert_eq!(lines(&log), ["recorded www 1", "config www 2"]);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.state_dir().join("certs/www/meta.json")).expect("meta"),
    )
    .expect("meta.json");
    assert_eq!(meta["key_type"], "ec256", "{meta}");
}

#[test]
fn delete_asks_refuses_without_a_terminal_and_takes_the_certificate_out_of_renewal() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hook.log");
    issue(&lab, "www", "www.example.test", &log, "issued");
    issue(&lab, "api", "api.example.test", &log, "issued");
    let www = lab.state_dir().join("certs/www");

    // stdin is not a terminal and no --yes: refused, nothing removed.
    let run = lab.wildcert(&["delete", "www"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("needs confirmation") && run.stderr.contains("--yes"),
        "{}",
        run.all()
    );
    assert!(www.join("meta.json").exists());

    // A name the config still has is refused with the way forward.
    let cfg = config(
        &lab,
        "[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\n",
    );
    let run = lab.wildcert(
        &[
            "--config",
            cfg.to_str().expect("utf-8"),
            "delete",
            "www",
            "--yes",
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("still a [[certificate]] in the config")
            && run.stderr.contains("remove its [[certificate]] entry"),
        "{}",
        run.all()
    );
    assert!(www.join("meta.json").exists());

    // --yes: gone from the store and from list.
    let run = lab.wildcert(&["--json", "delete", "www", "--yes"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["deleted"]["name"], "www", "{}", run.all());
    assert!(!www.exists(), "{} still exists", www.display());
    let run = lab.wildcert(&["--json", "list"], &[]);
    let v = json(&run);
    let names: Vec<&str> = v["certificates"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["api"], "{}", run.all());

    // The following renew renews only what is left, and does not bring www back.
    let run = lab.wildcert(&["--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        outcomes(&run),
        [("api".to_string(), "renewed".to_string())],
        "{}",
        run.all()
    );
    assert!(!www.exists());

    // --revoke: revoked at the CA first, then removed; then nothing is left to renew.
    let run = lab.wildcert(&["--json", "delete", "api", "--revoke", "--yes"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        json(&run)["deleted"]["revoked"]["serial"].is_string(),
        "{}",
        run.all()
    );
    assert!(!lab.state_dir().join("certs/api").exists());
    let run = lab.wildcert(&["renew", "--force"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("nothing to renew"), "{}", run.all());
}

/// One sample of the Prometheus text format: metric, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// A strict parser of the Prometheus text exposition format (0.0.4) as far as wildcert uses
/// it: `# HELP`/`# TYPE` once per family and before its samples, metric and label names
/// `[a-zA-Z_][a-zA-Z0-9_]*`, quoted label values with `\\`, `\"`, `\n` escapes, a float value.
fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    fn ident(s: &str) -> Option<(&str, &str)> {
        let end = s
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(s.len(), |(i, _)| i);
        (end > 0).then(|| s.split_at(end))
    }
    let mut helped = std::collections::BTreeSet::new();
    let mut typed = std::collections::BTreeMap::new();
    let mut samples = Vec::new();
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = ident(rest).ok_or_else(|| at("bad HELP name"))?;
            if !help.starts_with(' ') || help.trim().is_empty() || !helped.insert(name.to_string())
            {
                return Err(at("HELP without text or repeated"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = ident(rest).ok_or_else(|| at("bad TYPE name"))?;
            let kind = kind.trim();
            if !["gauge", "counter", "untyped", "summary", "histogram"].contains(&kind)
                || typed.insert(name.to_string(), kind.to_string()).is_some()
            {
                return Err(at("bad or repeated TYPE"));
            }
        } else if line.starts_with('#') || line.is_empty() {
            return Err(at("stray comment or blank line"));
        } else {
            let (name, mut rest) = ident(line).ok_or_else(|| at("bad metric name"))?;
            if !typed.contains_key(name) || !helped.contains(name) {
                return Err(at("sample before its HELP and TYPE"));
            }
            let mut labels = Vec::new();
            if let Some(r) = rest.strip_prefix('{') {
                rest = r;
                loop {
                    if let Some(r) = rest.strip_prefix('}') {
                        rest = r;
                        break;
                    }
                    let (key, r) = ident(rest).ok_or_else(|| at("bad label name"))?;
                    let r = r
                        .strip_prefix("=\"")
                        .ok_or_else(|| at("label without =\""))?;
                    let mut value = String::new();
                    let mut chars = r.char_indices();
                    let end = loop {
                        match chars.next() {
                            Some((i, '"')) => break i,
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => value.push('\n'),
                                Some((_, c @ ('\\' | '"'))) => value.push(c),
                                _ => return Err(at("bad escape")),
                            },
                            Some((_, c)) => value.push(c),
                            None => return Err(at("unterminated label value")),
                        }
                    };
                    labels.push((key.to_string(), value));
                    rest = &r[end + 1..];
                    rest = rest.strip_prefix(',').unwrap_or(rest);
                }
            }
            let value = rest
                .strip_prefix(' ')
                .ok_or_else(|| at("no space before the value"))?;
            let value: f64 = value.trim_end().parse().map_err(|_| at("bad value"))?;
            samples.push((name.to_string(), labels, value));
        }
    }
    Ok(samples)
}

#[test]
fn renew_writes_the_prometheus_textfile_and_list_prints_the_same() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let prom_dir = lab.state_dir().join("node-exporter");
    std::fs::create_dir(&prom_dir).expect("mkdir");
    let prom = prom_dir.join("wildcert.prom");
    let cfg = config(
        &lab,
        &format!(
            "[metrics]\ntextfile = \"{}\"\n\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\n",
            prom.display()
        ),
    );
    let cfg = cfg.to_str().expect("utf-8");
    let run = lab.wildcert(&["--config", cfg, "--json", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let text = std::fs::read_to_string(&prom).expect("metrics file written after renew");
    let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |metric: &str| {
        samples
            .iter()
            .find(|(m, l, _)| m == metric && l == &[("name".to_string(), "www".to_string())])
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("no {metric}{{name=\"www\"}} in\n{text}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let not_after = value("wildcert_certificate_not_after_seconds");
    let due = value("wildcert_certificate_renewal_due_seconds");
    let success = value("wildcert_renewal_last_success_seconds");
    assert!(not_after > now && due > now && due < not_after, "{text}");
    assert!((now - success).abs() < 300.0, "{text}");
    assert_eq!(
        value("wildcert_renewal_last_failure_seconds"),
        0.0,
        "{text}"
    );
    let run_duration: Vec<f64> = samples
        .iter()
        .filter(|(m, l, _)| m == "wildcert_renew_run_duration_seconds" && l.is_empty())
        .map(|s| s.2)
        .collect();
    assert!(
        run_duration.len() == 1 && run_duration[0] > 0.0 && run_duration[0] < 120.0,
        "{text}"
    );
    // Written atomically: nothing else (no temporary file) in the collector's directory.
    let left: Vec<String> = std::fs::read_dir(&prom_dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(left, ["wildcert.prom"]);

    let run = lab.wildcert(&["--config", cfg, "list", "--prometheus"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(run.stdout, text, "{}", run.all());
    // A failed renewal: its time is the failure metric; the live certificate's success stays.
    let run = lab.wildcert(
        &["--config", cfg, "--json", "renew", "--force"],
        &[("RFC2136_NAMESERVER", "127.0.0.1:9")],
    );
    assert_ne!(run.code, Some(0), "{}", run.all());
    let text = std::fs::read_to_string(&prom).expect("metrics file");
    let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |metric: &str| {
        samples
            .iter()
            .find(|(m, l, _)| m == metric && l == &[("name".to_string(), "www".to_string())])
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("no {metric}{{name=\"www\"}} in\n{text}"))
    };
    assert!(
        (now - value("wildcert_renewal_last_failure_seconds")).abs() < 300.0,
        "{text}"
    );
    assert_eq!(
        value("wildcert_renewal_last_success_seconds"),
        success,
        "{text}"
    );

    // The parser is strict: a sample before its TYPE, or a bad escape, is refused.
    assert!(parse_prometheus("x 1\n").is_err());
    assert!(parse_prometheus("# HELP x h\n# TYPE x gauge\nx{name=\"a\\q\"} 1\n").is_err());
}
