//! Where a plugin's code runs: in the engine's process ([`InProcess`], for
//! trusted plugins) or in a host process of its own ([`crate::sandbox::Sandbox`]).
//! The supervisor above does not care which.

use crate::ffi::{self, CallResult, CreateArgs, InputRef};
use crate::library::OpenedLibrary;
use clipshot_plugin_sdk::abi::CsVideoInput;
use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Instance = u64;

/// Why a call did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin refused (its `create` failed on these props, say).
    Refused { status: i32, message: String },
    /// The code is gone: the host process died, or was never there.
    Crashed(String),
    /// The call outlived its budget; the host was killed.
    Timeout(Duration),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { message, .. } => f.write_str(message),
            Self::Crashed(reason) => f.write_str(reason),
            Self::Timeout(budget) => write!(f, "a call took longer than its {} ms budget", budget.as_millis()),
        }
    }
}

pub(crate) trait Backend: Send {
    fn create(&mut self, index: usize, args: &CreateArgs) -> Result<(Instance, CsVideoInput), CallError>;
    fn process(&mut self, instance: Instance, pad: &str, input: &InputRef<'_>) -> Result<CallResult, CallError>;
    fn flush(&mut self, instance: Instance) -> Result<CallResult, CallError>;
    fn stats(&mut self, instance: Instance) -> Result<serde_json::Value, CallError>;
    fn destroy(&mut self, instance: Instance) -> Result<(), CallError>;
    /// Makes the code callable again after a crash; every instance is gone.
    fn restart(&mut self) -> Result<(), String>;
    fn stop(&mut self);
    /// The plugin is done with (unloaded): its `shutdown` runs. In process
    /// the library stays mapped; a host process ends.
    fn shutdown(&mut self) {
        self.stop();
    }
    fn pid(&self) -> Option<u32>;
    /// Bytes of shared memory (0 in process).
    fn shm_bytes(&self) -> usize {
        0
    }
}

/// A node handle owned by the in-process backend.
struct Handle(usize, *mut c_void);

// SAFETY: a handle is only used under the supervisor's lock, one call at a
// time, as the ABI allows (a node is called on one thread at a time).
unsafe impl Send for Handle {}

/// Calls the library directly. A panic is caught inside the plugin; a
/// segfault takes the engine down with it (hence only for trusted plugins).
pub(crate) struct InProcess {
    library: Arc<OpenedLibrary>,
    /// Live instances, few per plugin: a scan beats hashing on every call.
    instances: Vec<(Instance, Handle)>,
    next: Instance,
    shut_down: bool,
}

impl InProcess {
    pub(crate) fn new(library: Arc<OpenedLibrary>) -> Self {
        Self { library, instances: Vec::new(), next: 1, shut_down: false }
    }

    fn handle(&self, instance: Instance) -> Result<&Handle, CallError> {
        self.instances
            .iter()
            .find_map(|(id, handle)| (*id == instance).then_some(handle))
            .ok_or_else(|| CallError::Refused { status: 3, message: format!("no node instance {instance}") })
    }
}

impl Backend for InProcess {
    fn create(&mut self, index: usize, args: &CreateArgs) -> Result<(Instance, CsVideoInput), CallError> {
        let node = self
            .library
            .nodes
            .get(index)
            .ok_or_else(|| CallError::Refused { status: 3, message: format!("no node kind #{index}") })?;
        // SAFETY: a vtable of the checked library.
        let (handle, video) = unsafe { ffi::call_create(&node.vtable, args) }
            .map_err(|(status, message)| CallError::Refused { status, message })?;
        let instance = self.next;
        self.next += 1;
        self.instances.push((instance, Handle(index, handle)));
        Ok((instance, video))
    }

    fn process(&mut self, instance: Instance, pad: &str, input: &InputRef<'_>) -> Result<CallResult, CallError> {
        let &Handle(index, ptr) = self.handle(instance)?;
        // SAFETY: a live handle of this vtable.
        Ok(unsafe { ffi::call_process(&self.library.nodes[index].vtable, ptr, pad, input) })
    }

    fn flush(&mut self, instance: Instance) -> Result<CallResult, CallError> {
        let &Handle(index, ptr) = self.handle(instance)?;
        // SAFETY: as above.
        Ok(unsafe { ffi::call_flush(&self.library.nodes[index].vtable, ptr) })
    }

    fn stats(&mut self, instance: Instance) -> Result<serde_json::Value, CallError> {
        let &Handle(index, ptr) = self.handle(instance)?;
        // SAFETY: as above.
        Ok(unsafe { ffi::call_stats(&self.library.nodes[index].vtable, ptr) })
    }

    fn destroy(&mut self, instance: Instance) -> Result<(), CallError> {
        if let Some(at) = self.instances.iter().position(|(id, _)| *id == instance) {
            let (_, Handle(index, ptr)) = self.instances.swap_remove(at);
            // SAFETY: a live handle, destroyed once.
            unsafe { (self.library.nodes[index].vtable.destroy)(ptr) };
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<(), String> {
        // A node that panicked may be half-updated: every node starts afresh.
        let all: Vec<Instance> = self.instances.iter().map(|(id, _)| *id).collect();
        for instance in all {
            let _ = self.destroy(instance);
        }
        Ok(())
    }

    fn stop(&mut self) {
        let _ = self.restart();
    }

    fn shutdown(&mut self) {
        self.stop();
        if !self.shut_down {
            self.shut_down = true;
            self.library.shutdown();
        }
    }

    fn pid(&self) -> Option<u32> {
        Some(std::process::id())
    }
}
