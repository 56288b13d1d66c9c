//! Test kit for wildcert: starts real servers (Pebble, pebble-challtestsrv, BIND, Knot, PowerDNS, moto)
//! on loopback, each torn down on drop (child killed, temp dir removed, added loopback addresses
//! removed); a fault proxy; and what API fakes are built on — [`Router`] (routes, JSON fixtures,
//! auth hook, fault injection, request audit), [`RecordStore`] with [`ZoneMirror`] (their TXT
//! records in a real BIND zone) and [`prove_with_sdk`] (the host's own client). The fakes
//! themselves live beside their providers (`providers/<kind>/tests/fake`).
//!
//! Every wait is bounded. Use [`require`] (or the `require_*` helpers) at the top of a test to
//! skip when a tool is missing; under `CI=true` a missing tool panics instead.
//! Set `WILDCERT_KIT_KEEP=1` to keep the temp dirs (configs, zones, logs) after a run.
//!
//! ```text
//! if !wildcert_testkit::require_pebble() { return; }
//! let dns = ChallTestSrv::start().expect("challtestsrv");
//! let pebble = Pebble::start(PebbleOptions { dns_server: Some(dns.dns_addr()), ..Default::default() })
//!     .expect("pebble");
//! // trust pebble.ca_cert_pem(), use pebble.directory_url(), dns.set_txt(host, value).await
//!
//! if !wildcert_testkit::require_bind() { return; }
//! let topo = BindTopology::start(BindOptions::default()).expect("bind");   // example.test
//! let resolver = topo.start_resolver().expect("resolver");                // for Pebble -dnsserver
//! ```

mod bind;
mod challtestsrv;
mod http;
mod knot;
mod moto;
mod nsupdate;
mod pdns;
mod pebble;
mod postgres;
mod proxy;
mod records;
mod router;
mod scripted;
mod sdk;
mod util;

pub use knot::{Knot, KnotOptions, require_knot};
pub use moto::{Moto, MotoRequest, moto_server_path, require_moto};

pub use pdns::{PowerDns, PowerDnsOptions, pdns_schema_path, require_pdns};

pub use bind::{
    BindOptions, BindResolver, BindTopology, Frozen, ResolverOptions, soa_serial, txt_values,
    txt_values_recursive,
};
pub use challtestsrv::ChallTestSrv;
pub use pebble::{
    Pebble, PebbleFlavor, PebbleOptions, PebbleProfile, UPSTREAM_PEBBLE_ENV,
    require_pebble_upstream, upstream_pebble_path,
};
pub use postgres::{Postgres, postgres_bin_dir, require_postgres};
pub use proxy::{FaultProxy, HttpAnswer, ProxyMode};
pub use records::{
    FakeRecord, FakeToken, FakeZone, HoldsRecords, RecordStore, ZoneMirror, absolute_name,
    dns_name, hex_id, txt_rdata, unquote_txt,
};
pub use router::{
    Audited, Call, FakeServer, Reply, Router, fixture, now_rfc3339, paginate, parse_query,
    percent_decode, random_id,
};
pub use scripted::{ScriptedHttp, ScriptedReply, ScriptedRequest, http_date};
pub use sdk::{proof_helpers, prove_with_sdk, sdk_python};
/// Reading and writing the XML of AWS-style APIs (moto, a Route53 fake), without a parser.
pub mod xml {
    pub use crate::moto::{tag_raw, tag_texts, xml_escape};
}
pub use util::{
    KitError, find_tool, free_port, free_tcp_port, install_crypto_provider, is_ci, is_root,
    require, require_bind, require_pebble,
};
