//! The wire between the engine and a plugin host process: length-prefixed
//! MessagePack frames over the child's stdin and stdout. Bulk data (frames,
//! audio, tensors) does not travel here: it is in the shared memory, and a
//! message says where.

use crate::ffi::{CallResult, CreateArgs, Planes};
use crate::library::{LibraryInfo, LoadError, NodeDescription};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Frames above this are refused (a corrupt length must not allocate gigabytes).
const MAX_FRAME: usize = 64 << 20;

/// Where an input's bytes are in the shared memory (always at offset 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputMsg {
    Video { format: u32, width: u32, height: u32, planes: Planes, len: usize, pts_ns: i64 },
    Audio { rate: u32, channels: u32, samples: usize, pts_ns: i64 },
    Tensor { shape: Vec<usize>, len: usize, pts_ns: i64 },
    Event(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    Create {
        instance: u64,
        index: usize,
        args: CreateArgs,
    },
    /// `shm_len`: the shared memory's size now (the host remaps when it grew).
    Process {
        instance: u64,
        pad: String,
        input: InputMsg,
        shm_len: usize,
    },
    Flush {
        instance: u64,
    },
    Stats {
        instance: u64,
    },
    Destroy {
        instance: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The first message: the library is open and checked.
    Ready {
        info: LibraryInfo,
        nodes: Vec<NodeDescription>,
    },
    /// The first message when the library was refused.
    Refused(LoadError),
    Created {
        max_fps: f64,
        width: u32,
        format: u32,
    },
    /// `create` failed in the plugin (bad props, say).
    CreateFailed {
        status: i32,
        message: String,
    },
    Done(CallResult),
    Stats(String),
    Destroyed,
    /// The host could not serve the request (unknown instance, bad input).
    Invalid(String),
}

pub fn write<W: Write, T: Serialize>(w: &mut W, message: &T) -> std::io::Result<()> {
    let bytes = rmp_serde::to_vec(message).map_err(std::io::Error::other)?;
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(&bytes)?;
    w.flush()
}

/// `Ok(None)` at a clean end of stream.
pub fn read<R: Read, T: for<'de> Deserialize<'de>>(r: &mut R) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a {len}-byte message")));
    }
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    rmp_serde::from_slice(&bytes).map(Some).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_a_huge_length_is_refused() {
        let req = Request::Process {
            instance: 7,
            pad: "video".into(),
            input: InputMsg::Tensor { shape: vec![1, 4], len: 16, pts_ns: -5 },
            shm_len: 4096,
        };
        let mut buf = Vec::new();
        write(&mut buf, &req).unwrap();
        let back: Request = read(&mut buf.as_slice()).unwrap().unwrap();
        assert_eq!(back, req);
        let empty: Option<Request> = read(&mut [].as_slice()).unwrap();
        assert!(empty.is_none());
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        huge.extend([0; 8]);
        assert!(read::<_, Request>(&mut huge.as_slice()).is_err());
    }
}
