//! Reference-counted media handles: cloning one never copies media.
//!
//! Backends wrap their own buffers (a mapped `gst::Buffer`, a GPU resource) in
//! [`MediaBytes`]; the engine passes handles between stages by bumping a count.

use std::fmt;
use std::sync::Arc;

/// Read access to bytes that some backend owns. Implementations must return the
/// same slice for the lifetime of the value (it is written straight to files).
pub trait MediaBytes: Send + Sync + fmt::Debug {
    fn as_bytes(&self) -> &[u8];
}

impl MediaBytes for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl MediaBytes for Box<[u8]> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl MediaBytes for &'static [u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

/// One encoded access unit (a video frame or an audio frame).
///
/// Times are signed nanoseconds of *running time* (the pipeline clock minus its
/// base time): encoders may shift their segments, and B-frames have DTS before
/// the stream's first PTS, so neither raw buffer times nor unsigned values work.
#[derive(Clone)]
pub struct Packet {
    data: Arc<dyn MediaBytes>,
    pub pts_ns: i64,
    /// Decode time; equals `pts_ns` for streams without reordering.
    pub dts_ns: i64,
    /// Zero when unknown.
    pub duration_ns: i64,
    /// A sync point: decoding can start here.
    pub keyframe: bool,
}

impl Packet {
    pub fn new(data: Arc<dyn MediaBytes>, pts_ns: i64, dts_ns: i64, duration_ns: i64, keyframe: bool) -> Self {
        Self { data, pts_ns, dts_ns, duration_ns, keyframe }
    }

    pub fn bytes(&self) -> &[u8] {
        self.data.as_bytes()
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// Whether two handles share the same underlying bytes.
    pub fn shares_data_with(&self, other: &Packet) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len())
            .field("pts_ns", &self.pts_ns)
            .field("dts_ns", &self.dts_ns)
            .field("duration_ns", &self.duration_ns)
            .field("keyframe", &self.keyframe)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    Rgba,
    Bgra,
    Nv12,
    I420,
}

/// One raw video frame (the analysis branch's input).
#[derive(Clone)]
pub struct Frame {
    data: Arc<dyn MediaBytes>,
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the first plane.
    pub stride: u32,
    pub pts_ns: i64,
}

impl Frame {
    pub fn new(
        data: Arc<dyn MediaBytes>,
        format: PixelFormat,
        width: u32,
        height: u32,
        stride: u32,
        pts_ns: i64,
    ) -> Self {
        Self { data, format, width, height, stride, pts_ns }
    }

    pub fn bytes(&self) -> &[u8] {
        self.data.as_bytes()
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("format", &self.format)
            .field("size", &(self.width, self.height))
            .field("pts_ns", &self.pts_ns)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloning_a_packet_shares_its_bytes() {
        let p = Packet::new(Arc::new(vec![1u8, 2, 3]), 0, 0, 0, true);
        let q = p.clone();
        assert!(p.shares_data_with(&q));
        assert_eq!(p.bytes().as_ptr(), q.bytes().as_ptr());
    }
}
