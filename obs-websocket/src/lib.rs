//! obs-websocket 5.x for ClipShot: every Stream Deck, Touch Portal,
//! streamer.bot or Companion button that saves an OBS replay saves a ClipShot
//! clip, with no plugin of ours installed.
//!
//! A second front end over the same [`clipshot_runtime::Engine`] facade as
//! the REST API (and nothing of the HTTP crate): OBS's replay buffer is the
//! default pipeline's ring, its recording a `sink.file` branch tapped beside
//! the ring, its scenes the pipelines. Authentication is the protocol's own
//! challenge with the API token (or a configured password) as the password;
//! Host and Origin are checked as the API checks them. JSON text frames, and
//! MessagePack binary frames for clients that ask for
//! `obswebsocket.msgpack`.

pub mod protocol;
mod requests;
mod server;

pub use requests::REQUESTS;
pub use server::{Options, Server};
