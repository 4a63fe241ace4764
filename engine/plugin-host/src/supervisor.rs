//! A loaded plugin under supervision: every call goes through here, so a
//! crash, a panic or a call over its budget is counted, reported
//! (`plugin.crashed`) and answered the same way in both isolation modes —
//! the plugin's nodes are bypassed, the code is restarted after a back-off
//! (1 s doubling to 30 s), and three crashes in five minutes disable the
//! plugin. The pipelines around it never see an error from a crash.

use crate::backend::{Backend, CallError, InProcess, Instance};
use crate::ffi::{CallResult, CreateArgs};
use crate::library::{self, LibraryInfo, LoadError, NodeDescription};
#[cfg(target_os = "linux")]
use crate::sandbox::{HostCommand, HostedLibrary, Limits, Sandbox, SpawnError};
use clipshot_core::event::{Event, EventSink};
use clipshot_core::processor::VideoInput;
use clipshot_plugin_sdk::abi::{CS_OK, CS_PANIC, CsVideoInput};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One call in this many is timed precisely for health's call figures.
const TIMED_EVERY: u64 = 8;

/// Monotonic time at the kernel's tick resolution (a vDSO read of a few ns):
/// enough for call budgets of hundreds of milliseconds.
#[cfg(target_os = "linux")]
fn coarse_now() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn coarse_now() -> Duration {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed()
}

/// Where a plugin's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Isolation {
    /// In a plugin host process of its own (the default): a crash costs
    /// only that process.
    #[default]
    OutOfProcess,
    /// In the engine's process: the lowest overhead, for trusted plugins;
    /// a segfault there ends the engine.
    InProcess,
}

/// When a plugin is restarted and when it is given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_crashes: usize,
    pub window: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A call's budget (the seeds' `PLUGIN_TIMEOUT`).
    pub call_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_crashes: 3,
            window: Duration::from_secs(300),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            call_timeout: Duration::from_secs(2),
        }
    }
}

/// Called when crashes disable a plugin: `(plugin id, reason)`. It runs
/// under the plugin's lock: it must not call back into the plugin.
pub type OnDisabled = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Everything needed to load a plugin's library.
pub struct LoadSpec {
    pub plugin_id: String,
    /// The private, verified copy (see [`library::private_copy`]).
    pub library: PathBuf,
    pub sha256: String,
    pub symbol: String,
    pub isolation: Isolation,
    /// How to start a plugin host process.
    #[cfg(target_os = "linux")]
    pub host: HostCommand,
    pub memory_bytes: Option<u64>,
    pub policy: Policy,
    /// The plugin's configuration (JSON object).
    pub config: serde_json::Value,
    /// The plugin's own data directory.
    pub data_dir: PathBuf,
    pub events: Arc<dyn EventSink>,
    pub on_disabled: OnDisabled,
}

impl std::fmt::Debug for LoadSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadSpec").field("plugin_id", &self.plugin_id).field("isolation", &self.isolation).finish()
    }
}

/// A plugin's health, as `GET /api/v1/plugins/{id}/health` reports it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginHealth {
    pub plugin_id: String,
    /// `healthy`, `degraded` (errors or a recent crash), `restarting`
    /// (bypassed until its back-off ends), `disabled`, `unloaded`.
    pub status: String,
    pub isolation: Isolation,
    /// The plugin host's process id (the engine's own in process).
    pub pid: Option<u32>,
    pub calls: u64,
    pub errors: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub timeouts: u64,
    /// Inputs not given to the plugin while it was down or disabled.
    pub bypassed: u64,
    /// Mean and p99 time of a call, in µs, over the timed calls (one in
    /// eight, the first included; p99 over the last 1024 timed).
    pub mean_call_us: f64,
    pub p99_call_us: f64,
    pub last_error: Option<String>,
    pub last_crash: Option<String>,
    pub disabled_reason: Option<String>,
    pub uptime_seconds: f64,
    pub shm_bytes: usize,
}

impl PluginHealth {
    /// The health of a plugin that is not loaded.
    pub fn not_loaded(plugin_id: &str, status: &str, disabled_reason: Option<String>) -> Self {
        Self {
            plugin_id: plugin_id.to_owned(),
            status: status.to_owned(),
            isolation: Isolation::default(),
            pid: None,
            calls: 0,
            errors: 0,
            crashes: 0,
            restarts: 0,
            timeouts: 0,
            bypassed: 0,
            mean_call_us: 0.0,
            p99_call_us: 0.0,
            last_error: None,
            last_crash: None,
            disabled_reason,
            uptime_seconds: 0.0,
            shm_bytes: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    errors: u64,
    crashes: u64,
    restarts: u64,
    timeouts: u64,
    bypassed: u64,
    timed: u64,
    total_us: f64,
    recent_us: VecDeque<f64>,
    last_error: Option<String>,
    last_crash: Option<String>,
}

struct State {
    backend: Box<dyn Backend>,
    generation: u64,
    down_until: Option<Instant>,
    disabled: Option<String>,
    unloaded: bool,
    backoff: Duration,
    crash_times: VecDeque<Instant>,
    /// How each node kind last asked for video (for a node created while the code is down).
    video: HashMap<usize, CsVideoInput>,
}

/// What health reports, behind a lock of its own that is never held across
/// a call into the plugin: a hung call must not hang the health route.
#[derive(Debug, Default)]
struct Status {
    counters: Counters,
    disabled: Option<String>,
    unloaded: bool,
    restarting: bool,
    recent_crashes: usize,
    pid: Option<u32>,
    shm_bytes: usize,
}

/// A node instance's handle: which code generation created it.
pub(crate) type Handle = Option<(Instance, u64)>;

/// A loaded plugin.
pub struct Plugin {
    id: String,
    info: LibraryInfo,
    nodes: Vec<NodeDescription>,
    isolation: Isolation,
    policy: Policy,
    config: String,
    data_dir: PathBuf,
    events: Arc<dyn EventSink>,
    on_disabled: OnDisabled,
    started: Instant,
    /// Taken before `status`, never the other way round.
    state: Mutex<State>,
    status: Mutex<Status>,
    /// Calls made, outside `status`: most calls take no lock but `state`'s.
    calls: AtomicU64,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("id", &self.id).field("isolation", &self.isolation).finish()
    }
}

/// Why a plugin did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    #[error(transparent)]
    Library(#[from] LoadError),
    #[error("{0}")]
    Host(String),
}

impl Plugin {
    /// Opens the library where the spec says and checks it.
    pub fn load(spec: LoadSpec) -> Result<Arc<Self>, LoadFailure> {
        let (backend, info, nodes): (Box<dyn Backend>, _, _) = match spec.isolation {
            Isolation::InProcess => {
                let library = Arc::new(library::open(&spec.library, &spec.sha256, &spec.symbol, &spec.plugin_id)?);
                let info = library.info.clone();
                let nodes = library.nodes.iter().map(|n| n.description.clone()).collect();
                (Box::new(InProcess::new(library)), info, nodes)
            }
            #[cfg(not(target_os = "linux"))]
            Isolation::OutOfProcess => {
                return Err(LoadFailure::Host(
                    "out-of-process isolation is only available on Linux here; run the plugin in-process".into(),
                ));
            }
            #[cfg(target_os = "linux")]
            Isolation::OutOfProcess => {
                let hosted = HostedLibrary {
                    path: spec.library.clone(),
                    sha256: spec.sha256.clone(),
                    symbol: spec.symbol.clone(),
                    plugin_id: spec.plugin_id.clone(),
                };
                let limits = Limits {
                    call_timeout: spec.policy.call_timeout,
                    memory_bytes: spec.memory_bytes,
                    ..Limits::default()
                };
                match Sandbox::start(spec.host.clone(), hosted, limits) {
                    Ok((sandbox, info, nodes)) => (Box::new(sandbox), info, nodes),
                    Err(SpawnError::Refused(e)) => return Err(LoadFailure::Library(e)),
                    Err(SpawnError::Failed(e)) => return Err(LoadFailure::Host(e)),
                }
            }
        };
        let status = Status { pid: backend.pid(), shm_bytes: backend.shm_bytes(), ..Status::default() };
        Ok(Arc::new(Self {
            id: spec.plugin_id,
            info,
            nodes,
            isolation: spec.isolation,
            policy: spec.policy,
            config: spec.config.to_string(),
            data_dir: spec.data_dir,
            events: spec.events,
            on_disabled: spec.on_disabled,
            started: Instant::now(),
            state: Mutex::new(State {
                backend,
                generation: 1,
                down_until: None,
                disabled: None,
                unloaded: false,
                backoff: spec.policy.backoff_initial,
                crash_times: VecDeque::new(),
                video: HashMap::new(),
            }),
            status: Mutex::new(status),
            calls: AtomicU64::new(0),
        }))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn info(&self) -> &LibraryInfo {
        &self.info
    }

    pub fn nodes(&self) -> &[NodeDescription] {
        &self.nodes
    }

    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Whether crashes disabled the plugin, and why.
    pub fn disabled(&self) -> Option<String> {
        self.status.lock().disabled.clone()
    }

    /// Stops the code; nodes still in pipelines are bypassed from now on.
    pub fn unload(&self) {
        let mut st = self.state.lock();
        if !st.unloaded {
            st.unloaded = true;
            st.backend.shutdown();
            self.publish(&st);
        }
    }

    /// Copies what health reports from the state.
    fn publish(&self, st: &State) {
        let mut status = self.status.lock();
        status.disabled.clone_from(&st.disabled);
        status.unloaded = st.unloaded;
        status.restarting = st.down_until.is_some();
        status.recent_crashes = st.crash_times.len();
        status.pid = if st.unloaded { None } else { st.backend.pid() };
        status.shm_bytes = st.backend.shm_bytes();
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.status.lock().counters);
    }

    pub fn health(&self) -> PluginHealth {
        let st = self.status.lock();
        let c = &st.counters;
        let mut recent: Vec<f64> = c.recent_us.iter().copied().collect();
        recent.sort_by(f64::total_cmp);
        let p99 = if recent.is_empty() {
            0.0
        } else {
            recent[((recent.len() as f64 * 0.99).ceil() as usize).clamp(1, recent.len()) - 1]
        };
        let status = if st.unloaded {
            "unloaded"
        } else if st.disabled.is_some() {
            "disabled"
        } else if st.restarting {
            "restarting"
        } else if c.errors > 0 || st.recent_crashes > 0 {
            "degraded"
        } else {
            "healthy"
        };
        PluginHealth {
            plugin_id: self.id.clone(),
            status: status.into(),
            isolation: self.isolation,
            pid: st.pid,
            calls: self.calls.load(Ordering::Relaxed),
            errors: c.errors,
            crashes: c.crashes,
            restarts: c.restarts,
            timeouts: c.timeouts,
            bypassed: c.bypassed,
            mean_call_us: if c.timed == 0 { 0.0 } else { c.total_us / c.timed as f64 },
            p99_call_us: p99,
            last_error: c.last_error.clone(),
            last_crash: c.last_crash.clone(),
            disabled_reason: st.disabled.clone(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            shm_bytes: st.shm_bytes,
        }
    }

    pub(crate) fn create_args(
        &self,
        index: usize,
        props: &serde_json::Value,
        pipeline: &str,
        node: &str,
    ) -> CreateArgs {
        CreateArgs {
            kind: self.nodes[index].kind.clone(),
            props: props.to_string(),
            pipeline: pipeline.to_owned(),
            node: node.to_owned(),
            data_dir: self.data_dir.display().to_string(),
            config: self.config.clone(),
        }
    }

    /// Records a crash (or a panic, or a call over budget) and decides what
    /// follows: a restart after the back-off, or, the third time in the
    /// window, the plugin disabled.
    fn crashed(&self, st: &mut State, reason: String) {
        if st.disabled.is_some() || st.unloaded {
            // Given up on already: nothing more to count or restart.
            st.backend.stop();
            return;
        }
        let now = Instant::now();
        self.count(|c| {
            c.crashes += 1;
            c.last_crash = Some(reason.clone());
            c.last_error = Some(reason.clone());
        });
        let window = self.policy.window;
        while st.crash_times.front().is_some_and(|t| now.duration_since(*t) > window) {
            st.crash_times.pop_front();
        }
        if st.crash_times.is_empty() {
            st.backoff = self.policy.backoff_initial;
        }
        st.crash_times.push_back(now);
        tracing::warn!(plugin = %self.id, %reason, "plugin crashed; its nodes are bypassed");
        self.events.emit(Event::PluginCrashed { plugin: self.id.clone(), reason: reason.clone() });
        st.backend.stop();
        if st.crash_times.len() >= self.policy.max_crashes {
            let why =
                format!("{} crashes within {} s (last: {reason})", st.crash_times.len(), self.policy.window.as_secs());
            tracing::error!(plugin = %self.id, reason = %why, "plugin disabled");
            st.disabled = Some(why.clone());
            st.down_until = None;
            (self.on_disabled)(&self.id, &why);
        } else {
            st.down_until = Some(now + st.backoff);
            st.backoff = (st.backoff * 2).min(self.policy.backoff_max);
        }
        self.publish(st);
    }

    /// Makes the code callable, restarting it when its back-off is over.
    /// `false` when the node is to be bypassed now.
    fn ready(&self, st: &mut State) -> bool {
        if st.unloaded || st.disabled.is_some() {
            return false;
        }
        if let Some(until) = st.down_until {
            if Instant::now() < until {
                return false;
            }
            match st.backend.restart() {
                Ok(()) => {
                    st.generation += 1;
                    st.down_until = None;
                    self.count(|c| c.restarts += 1);
                    self.publish(st);
                    tracing::info!(plugin = %self.id, "plugin restarted");
                }
                Err(e) => {
                    self.crashed(st, format!("restart failed: {e}"));
                    return false;
                }
            }
        }
        true
    }

    /// Creates a node instance. A plugin that refuses the props is an error;
    /// code that is down gives a bypassed node, never an error.
    pub(crate) fn create(&self, index: usize, args: &CreateArgs) -> Result<(Handle, VideoInput), String> {
        let mut st = self.state.lock();
        if !self.ready(&mut st) {
            let video = st.video.get(&index).map_or_else(VideoInput::default, crate::ffi::video_input);
            return Ok((None, video));
        }
        match st.backend.create(index, args) {
            Ok((instance, video)) => {
                st.video.insert(index, video);
                Ok((Some((instance, st.generation)), crate::ffi::video_input(&video)))
            }
            Err(CallError::Refused { status, message }) if status != CS_PANIC => Err(message),
            Err(e) => {
                self.crashed(&mut st, e.to_string());
                let video = st.video.get(&index).map_or_else(VideoInput::default, crate::ffi::video_input);
                Ok((None, video))
            }
        }
    }

    /// Runs one call on a node, (re)creating it in the current code
    /// generation first. `Ok(None)`: bypassed.
    pub(crate) fn call(
        &self,
        handle: &mut Handle,
        index: usize,
        args: &CreateArgs,
        f: impl FnOnce(&mut dyn Backend, Instance) -> Result<CallResult, CallError>,
    ) -> Result<Option<CallResult>, String> {
        let mut st = self.state.lock();
        if !self.ready(&mut st) {
            self.count(|c| c.bypassed += 1);
            return Ok(None);
        }
        let generation = st.generation;
        let instance = match *handle {
            Some((instance, g)) if g == generation => instance,
            _ => match st.backend.create(index, args) {
                Ok((instance, video)) => {
                    st.video.insert(index, video);
                    *handle = Some((instance, generation));
                    instance
                }
                Err(CallError::Refused { status, message }) if status != CS_PANIC => {
                    self.count(|c| {
                        c.errors += 1;
                        c.last_error = Some(message.clone());
                    });
                    return Err(message);
                }
                Err(e) => {
                    self.crashed(&mut st, e.to_string());
                    self.count(|c| c.bypassed += 1);
                    return Ok(None);
                }
            },
        };
        // Every call is held to its budget on the coarse clock (a few ns a
        // read, a few ms fine); timing a call to the microsecond takes two
        // reads of a precise clock, ≈ 20–50 ns of a ≈ 100 ns in-process
        // call, so one call in TIMED_EVERY is timed for health's figures.
        let timed = self.calls.fetch_add(1, Ordering::Relaxed).is_multiple_of(TIMED_EVERY);
        let coarse = coarse_now();
        let precise = timed.then(quanta::Instant::now);
        let result = f(st.backend.as_mut(), instance);
        let us = precise.map(|p| p.elapsed().as_secs_f64() * 1e6);
        let elapsed = coarse_now().saturating_sub(coarse);
        if let Some(us) = us {
            self.count(|c| {
                c.timed += 1;
                c.total_us += us;
                if c.recent_us.len() == 1024 {
                    c.recent_us.pop_front();
                }
                c.recent_us.push_back(us);
            });
        }
        match result {
            Ok(result) => {
                // At most 64 lines a call, whatever a host process claims.
                for (level, line) in result.logs.iter().take(64) {
                    log_line(&self.id, *level, line);
                }
                if elapsed > self.policy.call_timeout {
                    // In process a call cannot be stopped; it is reported
                    // once it returns, and the node is bypassed for a while.
                    self.count(|c| c.timeouts += 1);
                    let budget = CallError::Timeout(self.policy.call_timeout);
                    self.crashed(&mut st, format!("{budget} ({} ms)", elapsed.as_millis()));
                    return Ok(None);
                }
                match result.status {
                    CS_OK => Ok(Some(result)),
                    CS_PANIC => {
                        let message = result.error.unwrap_or_else(|| "panicked".into());
                        self.crashed(&mut st, message);
                        Ok(None)
                    }
                    status => {
                        let message = result.error.unwrap_or_else(|| format!("failed with status {status}"));
                        self.count(|c| {
                            c.errors += 1;
                            c.last_error = Some(message.clone());
                        });
                        Err(message)
                    }
                }
            }
            Err(CallError::Refused { message, .. }) => {
                self.count(|c| {
                    c.errors += 1;
                    c.last_error = Some(message.clone());
                });
                Err(message)
            }
            Err(e) => {
                if matches!(e, CallError::Timeout(_)) {
                    self.count(|c| c.timeouts += 1);
                }
                self.crashed(&mut st, e.to_string());
                Ok(None)
            }
        }
    }

    /// The node's own counters, when its code is up.
    pub(crate) fn stats(&self, handle: Handle) -> Option<serde_json::Value> {
        let mut st = self.state.lock();
        match handle {
            Some((instance, g))
                if g == st.generation && st.down_until.is_none() && !st.unloaded && st.disabled.is_none() =>
            {
                match st.backend.stats(instance) {
                    Ok(stats) => Some(stats),
                    Err(CallError::Refused { .. }) => None,
                    Err(e) => {
                        self.crashed(&mut st, e.to_string());
                        None
                    }
                }
            }
            _ => None,
        }
    }

    pub(crate) fn destroy(&self, handle: Handle) {
        let mut st = self.state.lock();
        if let Some((instance, g)) = handle
            && g == st.generation
            && !st.unloaded
            && st.down_until.is_none()
            && st.disabled.is_none()
            && let Err(e @ (CallError::Crashed(_) | CallError::Timeout(_))) = st.backend.destroy(instance)
        {
            self.crashed(&mut st, e.to_string());
        }
    }

    /// Counts an output the engine refused (an unknown pad, a bad event).
    pub(crate) fn output_refused(&self, message: String) {
        self.count(|c| {
            c.errors += 1;
            c.last_error = Some(message);
        });
    }
}

fn log_line(plugin: &str, level: u32, line: &str) {
    use clipshot_plugin_sdk::abi::{CS_LOG_ERROR, CS_LOG_INFO, CS_LOG_WARN};
    match level {
        CS_LOG_ERROR => tracing::error!(target: "clipshot::plugin", plugin, "{line}"),
        CS_LOG_WARN => tracing::warn!(target: "clipshot::plugin", plugin, "{line}"),
        CS_LOG_INFO => tracing::info!(target: "clipshot::plugin", plugin, "{line}"),
        _ => tracing::debug!(target: "clipshot::plugin", plugin, "{line}"),
    }
}
