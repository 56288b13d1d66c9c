//! DNS names and certificate identifiers as users type them (IDNA, case, wildcards).
#![cfg_attr(fuzzing, no_main)]

use wildcert_dns::{DnsName, Identifier};

fn check(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(n) = DnsName::parse(&s) {
        assert!(n.as_str().len() <= 253, "{s:?}");
        assert!(n.as_str().is_ascii(), "{s:?}");
        // The normal form is a fixed point.
        assert_eq!(DnsName::parse(n.as_str()).ok(), Some(n.clone()), "{s:?}");
    }
    if let Ok(id) = Identifier::parse(&s) {
        assert_eq!(
            Identifier::parse(&id.as_acme()).ok(),
            Some(id.clone()),
            "{s:?}"
        );
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    for path in std::env::args().skip(1) {
        if let Ok(data) = std::fs::read(&path) {
            check(&data);
        }
    }
}
