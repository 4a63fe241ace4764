//! The ClipShot daemon and its CLI client.
//!
//! `serve` runs the engine (the default pipeline and its replay ring), the REST
//! API on loopback and the global hotkey; the other commands are thin clients
//! of a running daemon, or local tools (`pipelines validate`, `nodes`).

pub mod client;
pub mod config;
pub mod engine;
pub mod events;
pub mod hotkey;
pub mod metrics;
pub mod openapi;
pub mod presets;
pub mod problem;
pub mod routes;
pub mod security;
pub mod server;
pub mod store;
