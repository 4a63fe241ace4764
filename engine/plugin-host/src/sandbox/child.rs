//! The plugin host process: opens one plugin library and serves its nodes'
//! calls for the engine. Whatever the plugin does — segfault, abort, leak,
//! hang — ends here; the engine sees a closed pipe or a late answer.

use super::protocol::{self, InputMsg, Request, Response};
use super::shm::{self, SharedMemory};
use crate::ffi::{self, InputRef};
use crate::library;
use std::collections::HashMap;
use std::ffi::c_void;
use std::io::{BufReader, BufWriter};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// The host's command line (after the subcommand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildArgs {
    pub library: PathBuf,
    pub sha256: String,
    pub symbol: String,
    pub plugin_id: String,
    pub shm_fd: i32,
    pub shm_len: usize,
}

impl ChildArgs {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--library".into(),
            self.library.display().to_string(),
            "--sha256".into(),
            self.sha256.clone(),
            "--symbol".into(),
            self.symbol.clone(),
            "--plugin".into(),
            self.plugin_id.clone(),
            "--shm-fd".into(),
            self.shm_fd.to_string(),
            "--shm-len".into(),
            self.shm_len.to_string(),
        ]
    }

    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            map.insert(flag.trim_start_matches("--").to_owned(), value.clone());
        }
        let mut take = |k: &str| map.remove(k).ok_or_else(|| format!("--{k} is required"));
        Ok(Self {
            library: PathBuf::from(take("library")?),
            sha256: take("sha256")?,
            symbol: take("symbol")?,
            plugin_id: take("plugin")?,
            shm_fd: take("shm-fd")?.parse().map_err(|_| "--shm-fd is not a number")?,
            shm_len: take("shm-len")?.parse().map_err(|_| "--shm-len is not a number")?,
        })
    }
}

fn input_ref<'a>(input: &'a InputMsg, shm: &'a [u8]) -> Result<InputRef<'a>, String> {
    Ok(match input {
        InputMsg::Video { format, width, height, planes, len, pts_ns } => {
            let data = shm.get(..*len).ok_or("the frame is larger than the shared memory")?;
            for i in 0..planes.count.min(4) as usize {
                if planes.offsets[i].checked_add(planes.sizes[i]).is_none_or(|end| end > data.len()) {
                    return Err(format!("plane {i} lies outside the frame"));
                }
            }
            InputRef::Video { format: *format, width: *width, height: *height, planes: *planes, data, pts_ns: *pts_ns }
        }
        InputMsg::Audio { rate, channels, samples, pts_ns } => InputRef::Audio {
            rate: *rate,
            channels: *channels,
            samples: shm::floats(shm, *samples).ok_or("the audio is larger than the shared memory")?,
            pts_ns: *pts_ns,
        },
        InputMsg::Tensor { shape, len, pts_ns } => InputRef::Tensor {
            shape,
            data: shm::floats(shm, *len).ok_or("the tensor is larger than the shared memory")?,
            pts_ns: *pts_ns,
        },
        InputMsg::Event(json) => InputRef::Event(json),
    })
}

/// Serves the engine until it closes the pipe. Returns the exit code.
pub fn serve(args: &ChildArgs) -> i32 {
    // The protocol gets a private copy of stdout, and fd 1 becomes stderr:
    // a plugin that prints cannot corrupt the protocol.
    // SAFETY: plain descriptor calls on our own stdio, results checked.
    let proto = unsafe {
        // Close-on-exec, like stdin below: a process the plugin starts must
        // not keep the engine's pipes open after this host is gone.
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 || libc::dup2(2, 1) < 0 || libc::fcntl(0, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return 2;
        }
        std::fs::File::from_raw_fd(fd)
    };
    let mut out = BufWriter::new(proto);
    let mut input = BufReader::new(std::io::stdin().lock());
    // SAFETY: the engine passed us this descriptor and nothing else owns it here.
    let fd = unsafe { OwnedFd::from_raw_fd(args.shm_fd) };
    // SAFETY: our descriptor; the plugin's own children need not inherit it.
    unsafe { libc::fcntl(args.shm_fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let Ok(mut shm) = SharedMemory::open_read_only(fd, args.shm_len) else { return 2 };

    let library = match library::open(&args.library, &args.sha256, &args.symbol, &args.plugin_id) {
        Ok(library) => library,
        Err(e) => {
            let _ = protocol::write(&mut out, &Response::Refused(e));
            return 3;
        }
    };
    let nodes = library.nodes.iter().map(|n| n.description.clone()).collect();
    if protocol::write(&mut out, &Response::Ready { info: library.info.clone(), nodes }).is_err() {
        return 2;
    }

    let mut instances: HashMap<u64, (usize, *mut c_void)> = HashMap::new();
    loop {
        let request: Request = match protocol::read(&mut input) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(_) => return 2,
        };
        let response = match request {
            Request::Create { instance, index, args } => match library.nodes.get(index) {
                // SAFETY: a vtable of the checked library.
                Some(node) => match unsafe { ffi::call_create(&node.vtable, &args) } {
                    Ok((handle, video)) => {
                        instances.insert(instance, (index, handle));
                        Response::Created { max_fps: video.max_fps, width: video.width, format: video.format }
                    }
                    Err((status, message)) => Response::CreateFailed { status, message },
                },
                None => Response::Invalid(format!("no node kind #{index}")),
            },
            Request::Process { instance, pad, input, shm_len } => {
                if shm.remap(shm_len).is_err() {
                    return 2;
                }
                match (instances.get(&instance), input_ref(&input, shm.as_slice())) {
                    (Some(&(index, handle)), Ok(input)) => {
                        // SAFETY: a live handle of this vtable.
                        Response::Done(unsafe { ffi::call_process(&library.nodes[index].vtable, handle, &pad, &input) })
                    }
                    (None, _) => Response::Invalid(format!("no instance {instance}")),
                    (_, Err(e)) => Response::Invalid(e),
                }
            }
            Request::Flush { instance } => match instances.get(&instance) {
                // SAFETY: a live handle of this vtable.
                Some(&(index, handle)) => {
                    Response::Done(unsafe { ffi::call_flush(&library.nodes[index].vtable, handle) })
                }
                None => Response::Invalid(format!("no instance {instance}")),
            },
            Request::Stats { instance } => match instances.get(&instance) {
                Some(&(index, handle)) => {
                    // SAFETY: a live handle of this vtable.
                    Response::Stats(unsafe { ffi::call_stats(&library.nodes[index].vtable, handle) }.to_string())
                }
                None => Response::Invalid(format!("no instance {instance}")),
            },
            Request::Destroy { instance } => {
                if let Some((index, handle)) = instances.remove(&instance) {
                    // SAFETY: a live handle, destroyed once.
                    unsafe { (library.nodes[index].vtable.destroy)(handle) };
                }
                Response::Destroyed
            }
        };
        if protocol::write(&mut out, &response).is_err() {
            return 2;
        }
    }
    for (_, (index, handle)) in instances.drain() {
        // SAFETY: live handles, destroyed once.
        unsafe { (library.nodes[index].vtable.destroy)(handle) };
    }
    library.shutdown();
    0
}
