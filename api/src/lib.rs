//! The ClipShot daemon and its CLI client.
//!
//! `serve` runs the engine (`clipshot-runtime`: the default pipeline, its
//! replay ring, the hotkey) behind the REST API on loopback; the other
//! commands are thin clients of a running daemon, or local tools
//! (`pipelines validate`, `nodes`). This crate knows HTTP, auth, OpenAPI and
//! the database; it never touches the media stack itself.

pub mod client;
pub mod config;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod security;
pub mod server;
pub mod session;
pub mod store;
