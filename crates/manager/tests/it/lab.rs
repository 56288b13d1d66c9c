//! Pebble + a BIND topology + a state directory, and settings that point at them.

use std::collections::BTreeMap;
use std::path::Path;

use wildcert_manager::{Loaded, Overrides};
use wildcert_testkit::{BindOptions, BindTopology, Pebble, PebbleFlavor, PebbleOptions};

/// The servers of one test, torn down on drop.
pub struct Lab {
    pub bind: BindTopology,
    pub pebble: Pebble,
    pub state: tempfile::TempDir,
}

impl Lab {
    /// `None` when the servers are missing outside CI (the test then returns early).
    /// `pebble.flavor` picks Debian's Pebble or the newest upstream one
    /// ([`PebbleOptions::upstream`]).
    pub fn start(zones: &[&str], pebble: PebbleOptions) -> Option<Lab> {
        let ca_present = match pebble.flavor {
            PebbleFlavor::Upstream => wildcert_testkit::require_pebble_upstream(),
            _ => wildcert_testkit::require_pebble(),
        };
        if !wildcert_testkit::require_bind() || !ca_present {
            return None;
        }
        let bind = BindTopology::start(BindOptions {
            zones: zones.iter().map(|z| z.to_string()).collect(),
            ..Default::default()
        })
        .expect("BIND topology starts");
        let pebble = Pebble::start(PebbleOptions {
            dns_server: Some(bind.lagging_secondary_addr()),
            ..pebble
        })
        .expect("pebble starts");
        Some(Lab {
            bind,
            pebble,
            state: tempfile::tempdir().expect("state dir"),
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Settings from `config` (TOML) with the lab's CA, store, resolver and rfc2136 provider;
    /// `server` replaces the CA's directory URL (a proxy in front of Pebble).
    pub fn loaded(&self, config: &str, server: Option<String>) -> Loaded {
        self.loaded_in("store", config, server)
    }

    /// [`Lab::loaded`] with the store in `<state>/<store>` (a second store: a second account).
    pub fn loaded_in(&self, store: &str, config: &str, server: Option<String>) -> Loaded {
        let path = self.state_dir().join(format!("{store}.toml"));
        std::fs::write(&path, config).expect("config");
        let mut env = BTreeMap::new();
        env.insert(
            "RFC2136_NAMESERVER".to_string(),
            self.bind.primary_addr().to_string(),
        );
        env.insert(
            "RFC2136_TSIG_FILE".to_string(),
            self.bind.tsig_key_file_path().display().to_string(),
        );
        let o = Overrides {
            server: Some(server.unwrap_or_else(|| self.pebble.directory_url())),
            ca_bundle: Some(self.pebble.ca_cert_path().to_path_buf()),
            state_dir: Some(self.state_dir().join(store)),
            agree_tos: true,
            resolvers: vec![self.bind.prompt_secondary_addr().to_string()],
            ..Default::default()
        };
        Loaded::load(Some(&path), env, &o).expect("settings load")
    }

    /// TXT values at `name` on the primary (what the provider left behind).
    pub fn primary_txt(&self, name: &str) -> Vec<String> {
        self.bind
            .txt_values(self.bind.primary_addr(), name)
            .unwrap_or_default()
    }

    /// The store's journal entries (records published and not yet removed).
    pub fn journal(&self) -> Vec<String> {
        std::fs::read_dir(self.state_dir().join("store").join("journal"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `[[certificate]]` entries for `names` (each a list of domains) through rfc2136.
pub fn certificates(certs: &[&[&str]]) -> String {
    let mut s = String::new();
    for names in certs {
        let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        s.push_str(&format!(
            "[[certificate]]\ndomains = [{}]\nprovider = \"rfc2136\"\n\n",
            list.join(", ")
        ));
    }
    s
}
