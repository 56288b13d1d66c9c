//! `wildcert-lab`: start a local ACME CA (Pebble) and a BIND 9 topology on loopback, run one
//! command with their coordinates in the environment, then tear everything down.
//!
//! ```text
//! wildcert-lab [--zone ZONE]... -- COMMAND [ARGS]...
//! ```
//! The command sees `WILDCERT_LAB_SERVER` (ACME directory URL), `WILDCERT_LAB_CA_BUNDLE`
//! (the CA that signed Pebble's HTTPS certificate), `WILDCERT_LAB_RESOLVER` (a nameserver of
//! the zones, for discovery), `WILDCERT_LAB_ROOTS` (Pebble's issuing root, PEM file), and
//! `RFC2136_NAMESERVER` + `RFC2136_TSIG_FILE` for the hidden primary. Pebble validates
//! against the lagging secondary.

use std::process::{Command, ExitCode};

use wildcert_testkit::{BindOptions, BindTopology, Pebble, PebbleOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(split) = args.iter().position(|a| a == "--") else {
        eprintln!("usage: wildcert-lab [--zone ZONE]... -- COMMAND [ARGS]...");
        return ExitCode::from(2);
    };
    let mut zones = Vec::new();
    let mut it = args[..split].iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--zone", Some(z)) => zones.push(z.trim_end_matches('.').to_string()),
            _ => {
                eprintln!("wildcert-lab: unknown argument `{a}`");
                return ExitCode::from(2);
            }
        }
    }
    if zones.is_empty() {
        zones.push("example.test".into());
    }
    let command = &args[split + 1..];
    if command.is_empty() {
        eprintln!("wildcert-lab: no command after --");
        return ExitCode::from(2);
    }
    match run(zones, command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wildcert-lab: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(zones: Vec<String>, command: &[String]) -> Result<ExitCode, Box<dyn std::error::Error>> {
    eprintln!(
        "==> starting BIND 9 on loopback: hidden primary + prompt and lagging secondaries for {}",
        zones.join(", ")
    );
    let bind = BindTopology::start(BindOptions {
        zones,
        ..Default::default()
    })?;
    eprintln!(
        "    primary {} (TSIG {}), secondaries {} and {} (lagging)",
        bind.primary_addr(),
        bind.tsig_algorithm(),
        bind.prompt_secondary_addr(),
        bind.lagging_secondary_addr()
    );
    eprintln!("==> starting Pebble (validating against the lagging secondary)");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.lagging_secondary_addr()),
        ..Default::default()
    })?;
    eprintln!("    ACME directory {}", pebble.directory_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let root = runtime.block_on(pebble.root_pem(0))?;
    let roots_path = bind.dir().join("pebble-root.pem");
    std::fs::write(&roots_path, root)?;
    let status = Command::new(&command[0])
        .args(&command[1..])
        .env("WILDCERT_LAB_SERVER", pebble.directory_url())
        .env("WILDCERT_LAB_CA_BUNDLE", pebble.ca_cert_path())
        .env(
            "WILDCERT_LAB_RESOLVER",
            bind.prompt_secondary_addr().to_string(),
        )
        .env("WILDCERT_LAB_ROOTS", &roots_path)
        .env("RFC2136_NAMESERVER", bind.primary_addr().to_string())
        .env("RFC2136_TSIG_FILE", bind.tsig_key_file_path())
        .status()?;
    eprintln!("==> stopping Pebble and BIND");
    drop(pebble);
    drop(bind);
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
}
