//! Integration tests of the lifecycle engine against the kit's real servers (Pebble, BIND):
//! what users and CAs do that the happy path does not.

mod isolation;
mod lab;
mod methods;
mod pgstore;
mod structure;
