//! `tsig-keygen` key files (`key "name" { algorithm …; secret "…"; };`).
#![cfg_attr(fuzzing, no_main)]

fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(keys) = wildcert_rfc2136::tsig::parse_key_file(text) {
        let _ = wildcert_rfc2136::tsig::select_key(&keys, None);
        let _ = wildcert_rfc2136::tsig::select_key(&keys, Some("wildcert-test-key"));
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
