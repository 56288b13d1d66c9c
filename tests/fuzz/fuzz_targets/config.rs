//! The config file (TOML) into `Settings`, and the checks the settings loader adds.
#![cfg_attr(fuzzing, no_main)]

fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = toml::from_str::<wildcert_manager::settings::Settings>(text) {
        let _ = s.propagation_timeout();
    }
    let _ = wildcert_manager::settings::parse_duration(text);
    let _ = wildcert_manager::settings::parse_server_addr("dns.resolvers", text);
    let _ = wildcert_manager::settings::resolve_server(Some(text));
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
