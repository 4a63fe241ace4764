//! Per-track tables: one track's sample timing in its media timescale, and the
//! `trak` box built from it (edit list, media headers, the `avcC`/`esds`
//! sample description, and the stts/ctts/stss/stsc/stsz tables).

use super::boxes::{Boxes, descriptor, descriptor_header_len, to_u32};
use super::{AudioTrackConfig, MOVIE_TIMESCALE, VideoTrackConfig};
use clipshot_core::Packet;

/// Sample tables of one track, in the track's media timescale.
pub(super) struct Track {
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
    pub(super) delay: u64,
}

fn ticks(ns: i64, timescale: u32) -> i64 {
    ((i128::from(ns) * i128::from(timescale) + 500_000_000) / 1_000_000_000) as i64
}

impl Track {
    /// `origin_ns`: the running time the clip's presentation starts at.
    pub(super) fn new(packets: &[&Packet], timescale: u32, fallback_delta: u32, video: bool, origin_ns: i64) -> Self {
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

    pub(super) fn movie_duration(&self) -> u64 {
        self.duration * u64::from(MOVIE_TIMESCALE) / u64::from(self.timescale)
    }

    fn media_duration(&self) -> u64 {
        self.deltas.iter().map(|&d| u64::from(d)).sum()
    }
}

pub(super) enum SampleEntry<'a> {
    Video(&'a VideoTrackConfig),
    Audio(&'a AudioTrackConfig),
}

/// One track's `trak`; `offsets`: the file offset of each of its samples.
pub(super) fn trak(b: &mut Boxes, id: u32, t: &Track, entry: &SampleEntry<'_>, offsets: &[u64], co64: bool) {
    let trak = b.begin(b"trak");
    tkhd(b, id, t, entry);
    edts(b, t);
    let mdia = b.begin(b"mdia");
    mdhd(b, t);
    hdlr(b, entry);
    let minf = b.begin(b"minf");
    media_header(b, entry);
    dinf(b);
    stbl(b, id, t, entry, offsets, co64);
    b.end(minf);
    b.end(mdia);
    b.end(trak);
}

fn tkhd(b: &mut Boxes, id: u32, t: &Track, entry: &SampleEntry<'_>) {
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
}

/// The edit list: an empty edit for the track's delay, then its presented media.
fn edts(b: &mut Boxes, t: &Track) {
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
}

fn mdhd(b: &mut Boxes, t: &Track) {
    let mdhd = b.begin_full(b"mdhd", 0, 0);
    b.u32(0);
    b.u32(0);
    b.u32(t.timescale);
    b.u32(to_u32(t.media_duration() as i64));
    b.u16(0x55c4); // 'und'
    b.u16(0);
    b.end(mdhd);
}

fn hdlr(b: &mut Boxes, entry: &SampleEntry<'_>) {
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
}

/// `vmhd` or `smhd`.
fn media_header(b: &mut Boxes, entry: &SampleEntry<'_>) {
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
}

fn dinf(b: &mut Boxes) {
    let dinf = b.begin(b"dinf");
    let dref = b.begin_full(b"dref", 0, 0);
    b.u32(1);
    let url = b.begin_full(b"url ", 0, 1); // self-contained
    b.end(url);
    b.end(dref);
    b.end(dinf);
}

fn stbl(b: &mut Boxes, id: u32, t: &Track, entry: &SampleEntry<'_>, offsets: &[u64], co64: bool) {
    let stbl = b.begin(b"stbl");
    stsd(b, id, entry);
    stts(b, t);
    ctts(b, t);
    stss(b, t);
    stsc(b);
    stsz(b, t);
    stco_or_co64(b, offsets, co64);
    b.end(stbl);
}

fn stsd(b: &mut Boxes, id: u32, entry: &SampleEntry<'_>) {
    let stsd = b.begin_full(b"stsd", 0, 0);
    b.u32(1);
    match entry {
        SampleEntry::Video(v) => avc1(b, v),
        SampleEntry::Audio(a) => mp4a(b, id, a),
    }
    b.end(stsd);
}

fn avc1(b: &mut Boxes, v: &VideoTrackConfig) {
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

fn mp4a(b: &mut Boxes, id: u32, a: &AudioTrackConfig) {
    let mp4a = b.begin(b"mp4a");
    b.zeros(6);
    b.u16(1);
    b.zeros(8);
    b.u16(a.channels);
    b.u16(16);
    b.zeros(4);
    b.u32(a.sample_rate.min(0xffff) << 16);
    esds(b, id, &a.audio_specific_config);
    b.end(mp4a);
}

/// The ES descriptor carrying the `AudioSpecificConfig`.
fn esds(b: &mut Boxes, id: u32, asc: &[u8]) {
    let esds = b.begin_full(b"esds", 0, 0);
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
}

/// stts: run-length encoded decode deltas.
fn stts(b: &mut Boxes, t: &Track) {
    let runs = run_lengths(&t.deltas);
    let stts = b.begin_full(b"stts", 0, 0);
    b.u32(runs.len() as u32);
    for (count, delta) in runs {
        b.u32(count);
        b.u32(delta);
    }
    b.end(stts);
}

/// Composition offsets, only when some sample has one; version 1 when any is negative.
fn ctts(b: &mut Boxes, t: &Track) {
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
}

/// Sync samples; no `stss` when every sample is one.
fn stss(b: &mut Boxes, t: &Track) {
    if let Some(sync) = &t.sync {
        let stss = b.begin_full(b"stss", 0, 0);
        b.u32(sync.len() as u32);
        for &s in sync {
            b.u32(s);
        }
        b.end(stss);
    }
}

fn stsc(b: &mut Boxes) {
    let stsc = b.begin_full(b"stsc", 0, 0);
    b.u32(1);
    b.u32(1); // first chunk
    b.u32(1); // samples per chunk
    b.u32(1); // sample description index
    b.end(stsc);
}

fn stsz(b: &mut Boxes, t: &Track) {
    let stsz = b.begin_full(b"stsz", 0, 0);
    b.u32(0);
    b.u32(t.sizes.len() as u32);
    for &s in &t.sizes {
        b.u32(s);
    }
    b.end(stsz);
}

/// `co64` when some offset may not fit 32 bits, else `stco`.
fn stco_or_co64(b: &mut Boxes, offsets: &[u64], co64: bool) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_lengths_compress_equal_neighbours() {
        assert_eq!(run_lengths(&[1, 1, 2, 2, 2, 1]), vec![(2, 1), (3, 2), (1, 1)]);
    }
}
