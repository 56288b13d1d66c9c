//! Integration tests of the provider SDK: the shared HTTP client and retry policy against a
//! scripted loopback server; the settings derive.

mod derive;
mod http;
