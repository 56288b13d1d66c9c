//! The acme-dns fake (tests/fake) alone on a loopback port, for a client from outside this
//! workspace: goacmedns (the library lego writes `ACME_DNS_STORAGE_PATH` with) registered on
//! it to write the files in tests/fixtures (their README says how):
//!
//! `cargo run -p wildcert-acme-dns --example serve-fake`
//!
//! prints `ACME_DNS_API_BASE=<url>`, serves until a line (or the end of input) arrives on
//! stdin, at most 10 minutes, then prints each request it answered and the registrations it
//! holds (usernames and subdomains; the passwords are the client's to keep).

#[allow(dead_code)]
#[path = "../tests/fake/mod.rs"]
mod fake;

use std::time::Duration;

use fake::{AcmeDnsFake, AcmeDnsFakeOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let f = AcmeDnsFake::start(AcmeDnsFakeOptions::default())?;
    println!("ACME_DNS_API_BASE={}", f.base_url());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(600)).is_err() {
        eprintln!("no line on stdin within 10 minutes: stopping");
    }
    for r in f.requests() {
        println!(
            "{} {} -> {} {}",
            r.method,
            r.target,
            r.status,
            r.body.trim()
        );
    }
    for r in f.with(|s| s.regs.clone()) {
        println!("registration {} subdomain {}", r.username, r.subdomain);
    }
    Ok(())
}
