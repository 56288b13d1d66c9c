//! Integration tests of the provider SDK: the shared HTTP client and retry policy against a
//! scripted loopback server.

mod http;
