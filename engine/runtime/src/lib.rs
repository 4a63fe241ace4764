//! The ClipShot engine as a service.
//!
//! [`Engine`] owns the node registry (GStreamer's built-in kinds, then the
//! processor kinds, later plugins), the pipelines and their supervision, the
//! [`EventBus`], the presets, the rules about the default pipeline, and the
//! one save path that every trigger (the [`hotkey`], the CLI, the REST API,
//! an obs-websocket remote, a highlight detector) goes through. The clip
//! [`recorder`] turns every saved clip into a record wherever a front end
//! keeps them. Front ends (the HTTP API, the CLI, later obs-websocket and the
//! dashboard) use this facade and never the media stack itself.

pub mod access;
pub mod analyze;
mod engine;
pub mod events;
pub mod hotkey;
mod plugins;
pub mod presets;
pub mod process;
pub mod recorder;

pub use engine::{Engine, EngineError, PipelineSummary, Recording, Settings, registry};
pub use events::{EventBus, Stamped, Subscription};
pub use hotkey::{Hotkey, HotkeyStatus};

/// Plugins, as front ends see them: the manager's answers and errors.
pub mod plugin {
    pub use clipshot_plugin_host::manager::{PermissionState, Refusal};
    pub use clipshot_plugin_host::manifest::{Permission, PermissionLevel, PluginType};
    pub use clipshot_plugin_host::sandbox::child::{ChildArgs, serve as serve_host};
    pub use clipshot_plugin_host::{
        Isolation, LibraryInfo, ListFilter, LoadError, NodeStats, PluginConfig, PluginError, PluginHealth, PluginInfo,
        PluginManager, PluginStatus, PluginTotals, Policy, archive, library, manager, manifest, pack, sandbox,
    };
}

/// What a pipeline is and does, as front ends see it.
pub use clipshot_gst::{
    BuildError, Image, NodeStats, Pipeline, PipelineStats, RecordError, RecordingInfo, Registry, RingFill, SaveError,
    SaveRequest, SaveSpan, SavedClip,
};

/// What this machine can capture from and encode with, and reading saved
/// clips back (metadata, thumbnails): the media stack's answers, behind
/// the facade.
pub mod media {
    pub use clipshot_gst::capture::devices::{AudioDevice, audio_devices, audio_encoders};
    pub use clipshot_gst::capture::x11::{Display, Window, probe_display, screens};
    pub use clipshot_gst::encode::probe::{EncoderInfo, h264_encoders};
    pub use clipshot_gst::inspect::{InspectError, MediaInfo, RgbaFrame, audio, frame_at, media_info, thumbnail};
}
