//! The file layout: `ftyp`, a `moov` whose chunk offsets point into the `mdat`
//! that follows it, then the samples, all written with vectored writes.

use super::boxes::{Boxes, to_u32};
use super::tracks::{SampleEntry, Track, trak};
use super::{ClipInfo, ClipSource, MOVIE_TIMESCALE, VIDEO_TIMESCALE};
use clipshot_core::Packet;
use std::io::{self, IoSlice, Write};

/// Slices handed to one `write_vectored` call (Linux's IOV_MAX is 1024).
const IOV_BATCH: usize = 1024;

/// Which track each sample of the `mdat` comes from, in file order.
#[derive(Clone, Copy)]
enum Slot {
    Video(usize),
    Audio(usize),
}

/// The header bytes of a clip and the order of its samples.
struct Layout {
    header: Vec<u8>,
    order: Vec<Slot>,
    info: ClipInfo,
}

/// Everything the `moov` is built from but the position of the `mdat`.
struct Movie<'a> {
    src: &'a ClipSource<'a>,
    video: &'a [&'a Packet],
    audio: &'a [&'a Packet],
    vt: Track,
    at: Option<Track>,
    order: Vec<Slot>,
    /// Movie timescale.
    duration: u64,
}

fn ftyp(b: &mut Boxes) {
    let at = b.begin(b"ftyp");
    b.bytes(b"isom");
    b.u32(0x200);
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        b.bytes(brand);
    }
    b.end(at);
}

fn mvhd(b: &mut Boxes, duration: u64, has_audio: bool) {
    let mvhd = b.begin_full(b"mvhd", 0, 0);
    b.u32(0);
    b.u32(0);
    b.u32(MOVIE_TIMESCALE);
    b.u32(to_u32(duration as i64));
    b.u32(0x0001_0000); // rate
    b.u16(0x0100); // volume
    b.zeros(10);
    b.matrix();
    b.zeros(24);
    b.u32(if has_audio { 3 } else { 2 }); // next track id
    b.end(mvhd);
}

/// Interleave by decode time so a streaming reader never waits for one track.
fn interleave(video: &[&Packet], audio: &[&Packet]) -> Vec<Slot> {
    let mut order = Vec::with_capacity(video.len() + audio.len());
    let (mut vi, mut ai) = (0, 0);
    while vi < video.len() || ai < audio.len() {
        let take_video = ai >= audio.len() || (vi < video.len() && video[vi].dts_ns <= audio[ai].pts_ns);
        if take_video {
            order.push(Slot::Video(vi));
            vi += 1;
        } else {
            order.push(Slot::Audio(ai));
            ai += 1;
        }
    }
    order
}

impl<'a> Movie<'a> {
    /// `None`: `src` has no video packet.
    fn new(src: &'a ClipSource<'a>) -> Option<Self> {
        let video = &src.video.packets;
        if video.is_empty() {
            return None;
        }
        let audio: &[&Packet] = src.audio.as_ref().map_or(&[], |a| &a.packets);
        let origin_ns = video.iter().map(|p| p.pts_ns).min().unwrap_or(0);
        let vt = Track::new(video, VIDEO_TIMESCALE, VIDEO_TIMESCALE / 30, true, origin_ns);
        let at = src
            .audio
            .as_ref()
            .filter(|a| !a.packets.is_empty())
            .map(|a| Track::new(&a.packets, a.config.sample_rate, 1024, false, origin_ns));
        let order = interleave(video, audio);
        let duration = (vt.delay + vt.movie_duration()).max(at.as_ref().map_or(0, |a| a.delay + a.movie_duration()));
        Some(Self { src, video, audio, vt, at, order, duration })
    }

    /// The file offset of each video and each audio sample, one sample per chunk.
    fn chunk_offsets(&self, mdat_payload_start: u64) -> (Vec<u64>, Vec<u64>) {
        let (mut voff, mut aoff) = (Vec::with_capacity(self.video.len()), Vec::with_capacity(self.audio.len()));
        let mut pos = mdat_payload_start;
        for slot in &self.order {
            match *slot {
                Slot::Video(i) => {
                    voff.push(pos);
                    pos += self.video[i].len() as u64;
                }
                Slot::Audio(i) => {
                    aoff.push(pos);
                    pos += self.audio[i].len() as u64;
                }
            }
        }
        (voff, aoff)
    }

    fn moov(&self, mdat_payload_start: u64, co64: bool) -> Vec<u8> {
        let (voff, aoff) = self.chunk_offsets(mdat_payload_start);
        let mut b = Boxes::default();
        let moov = b.begin(b"moov");
        mvhd(&mut b, self.duration, self.at.is_some());
        trak(&mut b, 1, &self.vt, &SampleEntry::Video(self.src.video.config), &voff, co64);
        if let (Some(at), Some(a)) = (&self.at, &self.src.audio) {
            trak(&mut b, 2, at, &SampleEntry::Audio(a.config), &aoff, co64);
        }
        b.end(moov);
        b.0
    }
}

/// Appends the `mdat` header, with a 64-bit size when `large`.
fn mdat_header(header: &mut Vec<u8>, payload: u64, large: bool) {
    if large {
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(b"mdat");
        header.extend_from_slice(&(payload + 16).to_be_bytes());
    } else {
        header.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        header.extend_from_slice(b"mdat");
    }
}

fn layout(src: &ClipSource<'_>) -> io::Result<Layout> {
    let movie = Movie::new(src)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a clip needs at least one video packet"))?;
    let payload: u64 = movie.video.iter().chain(movie.audio).map(|p| p.len() as u64).sum();

    let mut ftyp_box = Boxes::default();
    ftyp(&mut ftyp_box);
    let large_mdat = payload + 8 > u64::from(u32::MAX);
    let mdat_header_len: u64 = if large_mdat { 16 } else { 8 };
    let probe_len = movie.moov(0, false).len() as u64;
    let co64 = ftyp_box.0.len() as u64 + probe_len + mdat_header_len + payload > u64::from(u32::MAX);
    // Offsets don't change box sizes, so the moov's length is known before its offsets.
    let moov_len = movie.moov(0, co64).len() as u64;
    let payload_start = ftyp_box.0.len() as u64 + moov_len + mdat_header_len;
    let moov = movie.moov(payload_start, co64);
    debug_assert_eq!(moov.len() as u64, moov_len);

    let mut header = ftyp_box.0;
    header.extend_from_slice(&moov);
    mdat_header(&mut header, payload, large_mdat);
    let info = ClipInfo {
        size_bytes: payload_start + payload,
        duration_s: movie.vt.movie_duration() as f64 / f64::from(MOVIE_TIMESCALE),
        video_codec: src.video.config.codec_string(),
        audio_codec: src.audio.as_ref().filter(|a| !a.packets.is_empty()).map(|_| "mp4a.40.2".to_owned()),
        video_samples: movie.video.len(),
        audio_samples: movie.audio.len(),
    };
    Ok(Layout { header, order: movie.order, info })
}

/// Writes `src` as a faststart MP4. Media bytes go to `w` as slices of the
/// packets' own buffers: nothing is copied on the way.
pub fn write_clip<W: Write>(w: &mut W, src: &ClipSource<'_>) -> io::Result<ClipInfo> {
    let layout = layout(src)?;
    let audio: &[&Packet] = src.audio.as_ref().map_or(&[], |a| &a.packets);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(IOV_BATCH);
    slices.push(IoSlice::new(&layout.header));
    for slot in &layout.order {
        let packet = match *slot {
            Slot::Video(i) => src.video.packets[i],
            Slot::Audio(i) => audio[i],
        };
        slices.push(IoSlice::new(packet.bytes()));
        if slices.len() == IOV_BATCH {
            write_all_vectored(w, &mut slices)?;
            slices.clear();
        }
    }
    write_all_vectored(w, &mut slices)?;
    w.flush()?;
    Ok(layout.info)
}

fn write_all_vectored<W: Write>(w: &mut W, slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut bufs = slices;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write the whole clip")),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::{TrackSource, VideoTrackConfig};
    use std::sync::Arc;

    #[test]
    fn header_offsets_point_at_the_samples() {
        let cfg = VideoTrackConfig { avcc: vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0], width: 64, height: 64 };
        let packets: Vec<Packet> = (0..3)
            .map(|i| {
                Packet::new(
                    Arc::new(vec![i as u8; 10 + i]),
                    i as i64 * 33_333_333,
                    i as i64 * 33_333_333,
                    33_333_333,
                    i == 0,
                )
            })
            .collect();
        let src = ClipSource { video: TrackSource { config: &cfg, packets: packets.iter().collect() }, audio: None };
        let mut out = Vec::new();
        let info = write_clip(&mut out, &src).unwrap();
        assert_eq!(info.size_bytes, out.len() as u64);
        assert_eq!(&out[4..8], b"ftyp");
        // The samples sit at the end, in order, byte for byte.
        let tail: Vec<u8> = packets.iter().flat_map(|p| p.bytes().iter().copied()).collect();
        assert_eq!(&out[out.len() - tail.len()..], &tail[..]);
        // The stco entry of the first sample points at it.
        let stco = out.windows(4).position(|w| w == b"stco").unwrap();
        let first = u32::from_be_bytes(out[stco + 12..stco + 16].try_into().unwrap()) as usize;
        assert_eq!(first, out.len() - tail.len());
        assert!((info.duration_s - 0.1).abs() < 0.002, "{}", info.duration_s);
    }
}
