//! The engine side of ClipShot plugins.
//!
//! A plugin is a folder with a `manifest.json` ([`manifest`]) and a native
//! library built against `clipshot-plugin-sdk`'s C ABI. Loading one is a
//! fixed sequence, each step refusing with a reason the API can name:
//!
//! 1. the manifest validates, whole ([`manifest`]); its dependencies and the
//!    engine version resolve ([`resolve`]);
//! 2. the binary is copied to a private content-addressed path and the
//!    SHA-256 of **that copy** is checked before it is opened ([`library`]);
//! 3. the ABI version is read before anything else is called, then the
//!    build information and identity;
//! 4. the code runs in a plugin host process of its own ([`sandbox`], the
//!    default) or in the engine's process ([`Isolation::InProcess`]), under
//!    one supervisor ([`supervisor`]) that turns crashes, panics and late
//!    calls into bypassed nodes, restarts and, at the third crash in five
//!    minutes, a disabled plugin;
//! 5. its node kinds join the engine's one registry ([`node::PluginKind`]).

pub mod archive;
mod backend;
mod ffi;
pub mod library;
pub mod manager;
pub mod manifest;
pub mod node;
pub mod pack;
pub mod resolve;
#[cfg(target_os = "linux")]
pub mod sandbox;
pub mod supervisor;

pub use backend::CallError;
pub use ffi::{CallResult, RawOutput};
pub use library::{LibraryInfo, LoadError, NodeDescription};
pub use manager::{
    ListFilter, ManagerConfig, PluginConfig, PluginError, PluginInfo, PluginManager, PluginStatus, PluginTotals,
};
pub use node::{NodeStats, PluginKind};
pub use supervisor::{Isolation, LoadFailure, LoadSpec, OnDisabled, Plugin, PluginHealth, Policy};
