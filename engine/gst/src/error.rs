use std::path::PathBuf;

/// Problems turning a validated graph into a running pipeline.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("node `{node}`: GStreamer element `{element}` is not installed{hint}")]
    MissingElement { node: String, element: String, hint: String },
    #[error("node `{node}`: {message}")]
    Node { node: String, message: String },
    /// The context the graph needs is gone (a file deleted, a device
    /// unplugged, an encoder lost): every problem, as validation reports them.
    #[error("{0}")]
    Invalid(clipshot_core::ValidationErrors),
    #[error("cannot link `{from}` to `{to}`: {reason}")]
    Link { from: String, to: String, reason: String },
    #[error("the pipeline did not start: {0}")]
    Start(String),
    /// A node's element failed while starting.
    #[error("the pipeline did not start: {0}")]
    Fault(clipshot_core::NodeFault),
}

/// Why a clip could not be saved. The ring is untouched either way.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("pipeline has no replay ring{0}")]
    NoRing(String),
    #[error("no marker {0} in the replay ring")]
    NoMarker(u64),
    #[error("invalid span: {0}")]
    InvalidSpan(String),
    #[error(transparent)]
    Snapshot(#[from] clipshot_replay::SnapshotError),
    #[error(transparent)]
    Write(#[from] clipshot_replay::SaveError),
    #[error("clip folder {0} is not usable")]
    Folder(PathBuf),
}
