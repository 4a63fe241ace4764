//! Shared memory between the engine and a plugin host: an anonymous memfd
//! the engine maps read-write; the host gets a read-only descriptor of it
//! and maps it read-only. The memfd is sealed against shrinking: a host
//! that truncated it would make the engine's next write fault (SIGBUS) in
//! the engine. The engine grows it when an input needs more; the host
//! remaps when a request says the size changed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    ptr: *mut u8,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is owned by this value and only reached through it.
unsafe impl Send for SharedMemory {}

fn map(fd: RawFd, len: usize, writable: bool) -> io::Result<*mut u8> {
    let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
    // SAFETY: a fresh shared mapping of a file descriptor we hold.
    let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0) };
    if ptr == libc::MAP_FAILED { Err(io::Error::last_os_error()) } else { Ok(ptr.cast()) }
}

impl SharedMemory {
    /// A new memfd of `len` bytes, close-on-exec (the spawner clears that
    /// flag for its one child only).
    pub fn create(name: &str, len: usize) -> io::Result<Self> {
        let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
        // SAFETY: a valid C string; the result is checked.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = len.max(4096);
        // SAFETY: our descriptor; the result is checked.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: our descriptor; growing stays allowed, shrinking never is.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let ptr = map(fd.as_raw_fd(), len, true)?;
        Ok(Self { fd, ptr, len, writable: true })
    }

    /// The host's read-only view of the engine's memfd.
    pub fn open_read_only(fd: OwnedFd, len: usize) -> io::Result<Self> {
        let ptr = map(fd.as_raw_fd(), len, false)?;
        Ok(Self { fd, ptr, len, writable: false })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A new read-only, close-on-exec descriptor of the same memory: the
    /// one the host is given (it can neither write nor resize through it).
    pub fn read_only_fd(&self) -> io::Result<OwnedFd> {
        let path =
            std::ffi::CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd())).map_err(io::Error::other)?;
        // SAFETY: a valid C string; the result is checked.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open returned a new descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn unmap(&mut self) {
        // SAFETY: our own mapping of `len` bytes.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }

    /// Engine side: at least `len` bytes (grown by doubling, never shrunk).
    pub fn ensure(&mut self, len: usize) -> io::Result<()> {
        if len <= self.len {
            return Ok(());
        }
        let new_len = len.next_power_of_two();
        // SAFETY: our descriptor.
        if unsafe { libc::ftruncate(self.fd.as_raw_fd(), new_len as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let ptr = map(self.fd.as_raw_fd(), new_len, self.writable)?;
        self.unmap();
        self.ptr = ptr;
        self.len = new_len;
        Ok(())
    }

    /// Host side: follow the engine's size.
    pub fn remap(&mut self, len: usize) -> io::Result<()> {
        if len == self.len {
            return Ok(());
        }
        let ptr = map(self.fd.as_raw_fd(), len, self.writable)?;
        self.unmap();
        self.ptr = ptr;
        self.len = len;
        Ok(())
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: a live mapping of `len` bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Engine side only.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        assert!(self.writable, "the host's mapping is read-only");
        // SAFETY: a live, writable mapping of `len` bytes, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// `f32`s at the start of the mapping (page-aligned, so aligned for f32).
pub fn floats(bytes: &[u8], count: usize) -> Option<&[f32]> {
    let need = count.checked_mul(4)?;
    if need > bytes.len() || bytes.as_ptr().align_offset(std::mem::align_of::<f32>()) != 0 {
        return None;
    }
    // SAFETY: in bounds and aligned; every bit pattern is a valid f32.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), count) })
}

/// Writes `f32`s as bytes at the start of `out`.
pub fn write_floats(out: &mut [u8], data: &[f32]) {
    for (chunk, v) in out.chunks_exact_mut(4).zip(data) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_can_neither_shrink_nor_write_the_memory() {
        let engine = SharedMemory::create("clipshot-test", 8192).unwrap();
        let host = engine.read_only_fd().unwrap();
        // SAFETY: plain calls on descriptors we own; results checked.
        unsafe {
            assert_ne!(libc::ftruncate(host.as_raw_fd(), 0), 0, "a read-only descriptor cannot resize");
            assert_ne!(libc::ftruncate(engine.fd(), 0), 0, "the seal forbids shrinking");
            assert_eq!(libc::ftruncate(engine.fd(), 16384), 0, "growing stays allowed");
            let buf = [1u8; 4];
            assert!(libc::write(host.as_raw_fd(), buf.as_ptr().cast(), 4) < 0, "nor write through it");
        }
        assert!(SharedMemory::open_read_only(host, engine.len()).is_ok());
    }

    #[test]
    fn the_host_sees_what_the_engine_writes_after_growth() {
        let mut engine = SharedMemory::create("clipshot-test", 16).unwrap();
        // SAFETY: dup of our own descriptor, owned by the new value.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(engine.fd())) };
        let mut host = SharedMemory::open_read_only(dup, engine.len()).unwrap();
        engine.as_mut_slice()[..3].copy_from_slice(b"abc");
        assert_eq!(&host.as_slice()[..3], b"abc");
        engine.ensure(100_000).unwrap();
        let big = engine.len();
        engine.as_mut_slice()[99_999] = 7;
        host.remap(big).unwrap();
        assert_eq!(host.as_slice()[99_999], 7);
        assert_eq!(&host.as_slice()[..3], b"abc", "growing keeps the contents");
        write_floats(engine.as_mut_slice(), &[1.5, -2.0]);
        assert_eq!(floats(host.as_slice(), 2).unwrap(), &[1.5, -2.0]);
    }
}
