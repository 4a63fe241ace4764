//! Low-level ISO BMFF writing: boxes built into a byte buffer, and the
//! MPEG-4 descriptor headers that `esds` nests.

/// Builds boxes into a byte buffer; sizes are patched when a box ends.
#[derive(Default)]
pub(super) struct Boxes(pub(super) Vec<u8>);

impl Boxes {
    pub(super) fn begin(&mut self, fourcc: &[u8; 4]) -> usize {
        let at = self.0.len();
        self.0.extend_from_slice(&[0, 0, 0, 0]);
        self.0.extend_from_slice(fourcc);
        at
    }

    pub(super) fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let at = self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        at
    }

    pub(super) fn end(&mut self, at: usize) {
        let size = (self.0.len() - at) as u32;
        self.0[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }

    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    pub(super) fn zeros(&mut self, n: usize) {
        self.0.resize(self.0.len() + n, 0);
    }
    pub(super) fn matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

pub(super) fn to_u32(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

/// An MPEG-4 descriptor header with a one- to four-byte length.
pub(super) fn descriptor(b: &mut Boxes, tag: u8, len: usize) {
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

pub(super) fn descriptor_header_len(len: usize) -> usize {
    1 + match len {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_lengths_round_trip() {
        for len in [0usize, 5, 127, 128, 300, 20_000] {
            let mut b = Boxes::default();
            descriptor(&mut b, 0x05, len);
            assert_eq!(b.0.len(), descriptor_header_len(len), "len {len}");
        }
    }
}
