//! A faststart MP4 writer that never copies media.
//!
//! Every sample's size and time is known before a save starts, so the `moov`
//! (with its chunk offsets) is computed first and `ftyp + moov + mdat` is
//! written in one pass, the samples going to the writer as `IoSlice`s over the
//! packets' own buffers. GStreamer's `mp4mux faststart=true` instead routes every
//! byte through a temporary file; with the moov at the end, browsers must fetch
//! the tail of the file before they can play.
//!
//! Scope: H.264 (`avc1` with the encoder's `avcC`) and AAC (`mp4a`), one sample
//! per chunk, samples interleaved by decode time, edit lists aligning both tracks
//! on the first displayed video frame.

use clipshot_core::Packet;
use std::io::{self, IoSlice, Write};

const MOVIE_TIMESCALE: u32 = 1000;
const VIDEO_TIMESCALE: u32 = 90_000;
/// Slices handed to one `write_vectored` call (Linux's IOV_MAX is 1024).
const IOV_BATCH: usize = 1024;

/// The H.264 decoder configuration of a video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrackConfig {
    /// The `AVCDecoderConfigurationRecord` (GStreamer's `codec_data` for
    /// `stream-format=avc`).
    pub avcc: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl VideoTrackConfig {
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> String {
        match self.avcc.get(1..4) {
            Some(p) => format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]),
            None => "avc1".to_owned(),
        }
    }
}

/// The AAC decoder configuration of an audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrackConfig {
    /// The `AudioSpecificConfig` (GStreamer's `codec_data` for raw AAC).
    pub audio_specific_config: Vec<u8>,
    pub sample_rate: u32,
    pub channels: u16,
}

/// One track of a clip: its configuration and its packets in decode order.
#[derive(Debug)]
pub struct TrackSource<'a, C> {
    pub config: &'a C,
    pub packets: Vec<&'a Packet>,
}

/// What a clip is made of.
#[derive(Debug)]
pub struct ClipSource<'a> {
    pub video: TrackSource<'a, VideoTrackConfig>,
    pub audio: Option<TrackSource<'a, AudioTrackConfig>>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    pub size_bytes: u64,
    /// Presentation duration of the video track.
    pub duration_s: f64,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub video_samples: usize,
    pub audio_samples: usize,
}

/// Sample tables of one track, in the track's media timescale.
struct Track {
    timescale: u32,
    /// Decode-time deltas, one per sample.
    deltas: Vec<u32>,
    /// Composition offsets (PTS - DTS), one per sample.
    cts: Vec<i32>,
    sizes: Vec<u32>,
    /// 1-based sample numbers of sync samples; `None`: every sample is one.
    sync: Option<Vec<u32>>,
    /// Media time of the first presented sample.
    media_start: i64,
    /// Presentation duration, media timescale.
    duration: u64,
    /// Where the track's presentation starts relative to the clip's, movie timescale.
    delay: u64,
}

fn ticks(ns: i64, timescale: u32) -> i64 {
    ((i128::from(ns) * i128::from(timescale) + 500_000_000) / 1_000_000_000) as i64
}

fn to_u32(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

impl Track {
    /// `origin_ns`: the running time the clip's presentation starts at.
    fn new(packets: &[&Packet], timescale: u32, fallback_delta: u32, video: bool, origin_ns: i64) -> Self {
        let dts0 = packets.first().map_or(0, |p| p.dts_ns);
        // Decode times must strictly increase; nudge ties rather than emit zero deltas.
        let mut dts: Vec<i64> = Vec::with_capacity(packets.len());
        for p in packets {
            let t = ticks(p.dts_ns - dts0, timescale);
            dts.push(dts.last().map_or(t, |&prev: &i64| t.max(prev + 1)));
        }
        let mut deltas: Vec<u32> = dts.windows(2).map(|w| to_u32(w[1] - w[0])).collect();
        if let Some(last) = packets.last() {
            let d = ticks(last.duration_ns, timescale);
            deltas.push(if d > 0 { to_u32(d) } else { deltas.last().copied().unwrap_or(fallback_delta) });
        }
        let cts: Vec<i32> = packets
            .iter()
            .zip(&dts)
            .map(|(p, &d)| {
                (ticks(p.pts_ns - dts0, timescale) - d).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
            })
            .collect();
        let presented = dts
            .iter()
            .zip(&cts)
            .zip(&deltas)
            .map(|((&d, &c), &dl)| (d + i64::from(c), d + i64::from(c) + i64::from(dl)));
        let (media_start, media_end) = presented.fold((i64::MAX, i64::MIN), |(lo, hi), (s, e)| (lo.min(s), hi.max(e)));
        let media_start = if packets.is_empty() { 0 } else { media_start };
        let first_pts = packets.iter().map(|p| p.pts_ns).min().unwrap_or(origin_ns);
        let sync =
            video.then(|| packets.iter().enumerate().filter(|(_, p)| p.keyframe).map(|(i, _)| i as u32 + 1).collect());
        Self {
            timescale,
            sizes: packets.iter().map(|p| p.len() as u32).collect(),
            deltas,
            cts,
            sync,
            media_start,
            duration: (media_end - media_start).max(0) as u64,
            delay: ticks(first_pts - origin_ns, MOVIE_TIMESCALE).max(0) as u64,
        }
    }

    fn movie_duration(&self) -> u64 {
        self.duration * u64::from(MOVIE_TIMESCALE) / u64::from(self.timescale)
    }

    fn media_duration(&self) -> u64 {
        self.deltas.iter().map(|&d| u64::from(d)).sum()
    }
}

/// Builds boxes into a byte buffer; sizes are patched when a box ends.
#[derive(Default)]
struct Boxes(Vec<u8>);

impl Boxes {
    fn begin(&mut self, fourcc: &[u8; 4]) -> usize {
        let at = self.0.len();
        self.0.extend_from_slice(&[0, 0, 0, 0]);
        self.0.extend_from_slice(fourcc);
        at
    }

    fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let at = self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        at
    }

    fn end(&mut self, at: usize) {
        let size = (self.0.len() - at) as u32;
        self.0[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }

    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn zeros(&mut self, n: usize) {
        self.0.resize(self.0.len() + n, 0);
    }
    fn matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
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

/// An MPEG-4 descriptor header with a one- to four-byte length.
fn descriptor(b: &mut Boxes, tag: u8, len: usize) {
    b.u8(tag);
    let mut shift = 21;
    while shift > 0 && (len >> shift) == 0 {
        shift -= 7;
    }
    while shift > 0 {
        b.u8(0x80 | ((len >> shift) & 0x7f) as u8);
        shift -= 7;
    }
    b.u8((len & 0x7f) as u8);
}

fn descriptor_header_len(len: usize) -> usize {
    1 + match len {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        _ => 4,
    }
}

enum SampleEntry<'a> {
    Video(&'a VideoTrackConfig),
    Audio(&'a AudioTrackConfig),
}

fn trak(b: &mut Boxes, id: u32, t: &Track, entry: &SampleEntry<'_>, offsets: &[u64], co64: bool) {
    let trak = b.begin(b"trak");

    let tkhd = b.begin_full(b"tkhd", 0, 0x3);
    b.u32(0); // creation time
    b.u32(0); // modification time
    b.u32(id);
    b.u32(0);
    b.u32(to_u32((t.delay + t.movie_duration()) as i64));
    b.zeros(8);
    b.u16(0); // layer
    b.u16(0); // alternate group
    b.u16(if matches!(entry, SampleEntry::Audio(_)) { 0x0100 } else { 0 });
    b.u16(0);
    b.matrix();
    let (w, h) = match entry {
        SampleEntry::Video(v) => (v.width, v.height),
        SampleEntry::Audio(_) => (0, 0),
    };
    b.u32(w << 16);
    b.u32(h << 16);
    b.end(tkhd);

    let edts = b.begin(b"edts");
    let elst = b.begin_full(b"elst", 0, 0);
    b.u32(if t.delay > 0 { 2 } else { 1 });
    if t.delay > 0 {
        b.u32(to_u32(t.delay as i64));
        b.u32(u32::MAX); // media_time -1: an empty edit
        b.u32(0x0001_0000);
    }
    b.u32(to_u32(t.movie_duration() as i64));
    b.u32(to_u32(t.media_start));
    b.u32(0x0001_0000);
    b.end(elst);
    b.end(edts);

    let mdia = b.begin(b"mdia");
    let mdhd = b.begin_full(b"mdhd", 0, 0);
    b.u32(0);
    b.u32(0);
    b.u32(t.timescale);
    b.u32(to_u32(t.media_duration() as i64));
    b.u16(0x55c4); // 'und'
    b.u16(0);
    b.end(mdhd);

    let hdlr = b.begin_full(b"hdlr", 0, 0);
    b.u32(0);
    let (handler, name): (&[u8; 4], &[u8]) = match entry {
        SampleEntry::Video(_) => (b"vide", b"ClipShot video\0"),
        SampleEntry::Audio(_) => (b"soun", b"ClipShot audio\0"),
    };
    b.bytes(handler);
    b.zeros(12);
    b.bytes(name);
    b.end(hdlr);

    let minf = b.begin(b"minf");
    match entry {
        SampleEntry::Video(_) => {
            let vmhd = b.begin_full(b"vmhd", 0, 1);
            b.zeros(8);
            b.end(vmhd);
        }
        SampleEntry::Audio(_) => {
            let smhd = b.begin_full(b"smhd", 0, 0);
            b.zeros(4);
            b.end(smhd);
        }
    }
    let dinf = b.begin(b"dinf");
    let dref = b.begin_full(b"dref", 0, 0);
    b.u32(1);
    let url = b.begin_full(b"url ", 0, 1); // self-contained
    b.end(url);
    b.end(dref);
    b.end(dinf);

    let stbl = b.begin(b"stbl");
    let stsd = b.begin_full(b"stsd", 0, 0);
    b.u32(1);
    match entry {
        SampleEntry::Video(v) => {
            let avc1 = b.begin(b"avc1");
            b.zeros(6);
            b.u16(1); // data reference index
            b.zeros(16);
            b.u16(v.width as u16);
            b.u16(v.height as u16);
            b.u32(0x0048_0000);
            b.u32(0x0048_0000);
            b.u32(0);
            b.u16(1); // frame count
            let mut compressor = [0u8; 32];
            let name = b"ClipShot H.264";
            compressor[0] = name.len() as u8;
            compressor[1..=name.len()].copy_from_slice(name);
            b.bytes(&compressor);
            b.u16(0x18);
            b.u16(0xffff);
            let avcc = b.begin(b"avcC");
            b.bytes(&v.avcc);
            b.end(avcc);
            b.end(avc1);
        }
        SampleEntry::Audio(a) => {
            let mp4a = b.begin(b"mp4a");
            b.zeros(6);
            b.u16(1);
            b.zeros(8);
            b.u16(a.channels);
            b.u16(16);
            b.zeros(4);
            b.u32(a.sample_rate.min(0xffff) << 16);
            let esds = b.begin_full(b"esds", 0, 0);
            let asc = &a.audio_specific_config;
            let dsi_len = descriptor_header_len(asc.len()) + asc.len();
            let dcd_len = 13 + dsi_len;
            let sl_len = descriptor_header_len(1) + 1;
            let es_len = 3 + descriptor_header_len(dcd_len) + dcd_len + sl_len;
            descriptor(b, 0x03, es_len);
            b.u16(id as u16);
            b.u8(0);
            descriptor(b, 0x04, dcd_len);
            b.u8(0x40); // MPEG-4 audio
            b.u8(0x15); // audio stream
            b.bytes(&[0, 0, 0]); // buffer size
            b.u32(0); // max bitrate
            b.u32(0); // average bitrate
            descriptor(b, 0x05, asc.len());
            b.bytes(asc);
            descriptor(b, 0x06, 1);
            b.u8(0x02);
            b.end(esds);
            b.end(mp4a);
        }
    }
    b.end(stsd);

    // stts: run-length encoded decode deltas.
    let runs = run_lengths(&t.deltas);
    let stts = b.begin_full(b"stts", 0, 0);
    b.u32(runs.len() as u32);
    for (count, delta) in runs {
        b.u32(count);
        b.u32(delta);
    }
    b.end(stts);

    if t.cts.iter().any(|&c| c != 0) {
        let runs = run_lengths(&t.cts);
        let version = u8::from(t.cts.iter().any(|&c| c < 0));
        let ctts = b.begin_full(b"ctts", version, 0);
        b.u32(runs.len() as u32);
        for (count, offset) in runs {
            b.u32(count);
            b.u32(offset as u32);
        }
        b.end(ctts);
    }

    if let Some(sync) = &t.sync {
        let stss = b.begin_full(b"stss", 0, 0);
        b.u32(sync.len() as u32);
        for &s in sync {
            b.u32(s);
        }
        b.end(stss);
    }

    let stsc = b.begin_full(b"stsc", 0, 0);
    b.u32(1);
    b.u32(1); // first chunk
    b.u32(1); // samples per chunk
    b.u32(1); // sample description index
    b.end(stsc);

    let stsz = b.begin_full(b"stsz", 0, 0);
    b.u32(0);
    b.u32(t.sizes.len() as u32);
    for &s in &t.sizes {
        b.u32(s);
    }
    b.end(stsz);

    if co64 {
        let co = b.begin_full(b"co64", 0, 0);
        b.u32(offsets.len() as u32);
        offsets.iter().for_each(|&o| b.u64(o));
        b.end(co);
    } else {
        let co = b.begin_full(b"stco", 0, 0);
        b.u32(offsets.len() as u32);
        offsets.iter().for_each(|&o| b.u32(o as u32));
        b.end(co);
    }

    b.end(stbl);
    b.end(minf);
    b.end(mdia);
    b.end(trak);
}

fn run_lengths<T: Copy + PartialEq>(values: &[T]) -> Vec<(u32, T)> {
    let mut runs: Vec<(u32, T)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => runs.push((1, v)),
        }
    }
    runs
}

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

fn layout(src: &ClipSource<'_>) -> io::Result<Layout> {
    let video = &src.video.packets;
    if video.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a clip needs at least one video packet"));
    }
    let audio: &[&Packet] = src.audio.as_ref().map_or(&[], |a| &a.packets);
    let origin_ns = video.iter().map(|p| p.pts_ns).min().unwrap_or(0);
    let vt = Track::new(video, VIDEO_TIMESCALE, VIDEO_TIMESCALE / 30, true, origin_ns);
    let at = src
        .audio
        .as_ref()
        .filter(|a| !a.packets.is_empty())
        .map(|a| Track::new(&a.packets, a.config.sample_rate, 1024, false, origin_ns));

    // Interleave by decode time so a streaming reader never waits for one track.
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
    let payload: u64 = video.iter().chain(audio).map(|p| p.len() as u64).sum();

    let movie_duration = (vt.delay + vt.movie_duration()).max(at.as_ref().map_or(0, |a| a.delay + a.movie_duration()));
    let build_moov = |mdat_payload_start: u64, co64: bool| -> Vec<u8> {
        let (mut voff, mut aoff) = (Vec::with_capacity(video.len()), Vec::with_capacity(audio.len()));
        let mut pos = mdat_payload_start;
        for slot in &order {
            match *slot {
                Slot::Video(i) => {
                    voff.push(pos);
                    pos += video[i].len() as u64;
                }
                Slot::Audio(i) => {
                    aoff.push(pos);
                    pos += audio[i].len() as u64;
                }
            }
        }
        let mut b = Boxes::default();
        let moov = b.begin(b"moov");
        let mvhd = b.begin_full(b"mvhd", 0, 0);
        b.u32(0);
        b.u32(0);
        b.u32(MOVIE_TIMESCALE);
        b.u32(to_u32(movie_duration as i64));
        b.u32(0x0001_0000); // rate
        b.u16(0x0100); // volume
        b.zeros(10);
        b.matrix();
        b.zeros(24);
        b.u32(if at.is_some() { 3 } else { 2 }); // next track id
        b.end(mvhd);
        trak(&mut b, 1, &vt, &SampleEntry::Video(src.video.config), &voff, co64);
        if let (Some(at), Some(a)) = (&at, &src.audio) {
            trak(&mut b, 2, at, &SampleEntry::Audio(a.config), &aoff, co64);
        }
        b.end(moov);
        b.0
    };

    let mut ftyp_box = Boxes::default();
    ftyp(&mut ftyp_box);
    let large_mdat = payload + 8 > u64::from(u32::MAX);
    let mdat_header_len: u64 = if large_mdat { 16 } else { 8 };
    let probe_len = build_moov(0, false).len() as u64;
    let co64 = ftyp_box.0.len() as u64 + probe_len + mdat_header_len + payload > u64::from(u32::MAX);
    // Offsets don't change box sizes, so the moov's length is known before its offsets.
    let moov_len = build_moov(0, co64).len() as u64;
    let payload_start = ftyp_box.0.len() as u64 + moov_len + mdat_header_len;
    let moov = build_moov(payload_start, co64);
    debug_assert_eq!(moov.len() as u64, moov_len);

    let mut header = ftyp_box.0;
    header.extend_from_slice(&moov);
    if large_mdat {
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(b"mdat");
        header.extend_from_slice(&(payload + 16).to_be_bytes());
    } else {
        header.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        header.extend_from_slice(b"mdat");
    }
    let info = ClipInfo {
        size_bytes: payload_start + payload,
        duration_s: vt.movie_duration() as f64 / f64::from(MOVIE_TIMESCALE),
        video_codec: src.video.config.codec_string(),
        audio_codec: src.audio.as_ref().filter(|a| !a.packets.is_empty()).map(|_| "mp4a.40.2".to_owned()),
        video_samples: video.len(),
        audio_samples: audio.len(),
    };
    Ok(Layout { header, order, info })
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
    use std::sync::Arc;

    #[test]
    fn descriptor_lengths_round_trip() {
        for len in [0usize, 5, 127, 128, 300, 20_000] {
            let mut b = Boxes::default();
            descriptor(&mut b, 0x05, len);
            assert_eq!(b.0.len(), descriptor_header_len(len), "len {len}");
        }
    }

    #[test]
    fn run_lengths_compress_equal_neighbours() {
        assert_eq!(run_lengths(&[1, 1, 2, 2, 2, 1]), vec![(2, 1), (3, 2), (1, 1)]);
    }

    #[test]
    fn codec_string_comes_from_the_avcc_profile_bytes() {
        let c = VideoTrackConfig { avcc: vec![1, 0x64, 0x00, 0x1f, 0xff], width: 1, height: 1 };
        assert_eq!(c.codec_string(), "avc1.64001f");
    }

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
