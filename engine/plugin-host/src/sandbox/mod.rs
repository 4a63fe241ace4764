//! Out-of-process isolation: one small host process per plugin (the engine's
//! own binary, a hidden subcommand that calls [`child::serve`]). Inputs go
//! through shared memory — one write on the engine's side, none copied
//! again — and calls and results over the child's stdin and stdout.
//!
//! The child dies with the engine (`PR_SET_PDEATHSIG`), may be given a
//! data-size limit (a leak ends in a failed allocation, so an exit, not in
//! the engine's memory), and is killed when a call outlives its budget.

pub mod child;
pub mod protocol;
pub mod shm;

use crate::backend::{Backend, CallError, Instance};
use crate::ffi::{CallResult, CreateArgs, InputRef};
use crate::library::{LibraryInfo, LoadError, NodeDescription};
use clipshot_plugin_sdk::abi::CsVideoInput;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use protocol::{InputMsg, Request, Response};
use shm::SharedMemory;
use std::io::BufWriter;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start a plugin host: a program and the arguments before the
/// host's own (the daemon passes its own executable and `plugin-host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl HostCommand {
    /// The running executable's `plugin-host` subcommand.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self { program: std::env::current_exe()?, args: vec!["plugin-host".into()] })
    }
}

/// Limits of a host process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a call may take before the host is killed.
    pub call_timeout: Duration,
    /// Longest opening the library may take.
    pub start_timeout: Duration,
    /// `RLIMIT_DATA` of the host (heap and private mappings).
    pub memory_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(2),
            start_timeout: Duration::from_secs(10),
            memory_bytes: Some(2 << 30),
        }
    }
}

/// Why a host did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Refused(#[from] LoadError),
    #[error("the plugin host did not start: {0}")]
    Failed(String),
}

/// What a library to host is.
#[derive(Debug, Clone)]
pub struct HostedLibrary {
    pub path: PathBuf,
    pub sha256: String,
    pub symbol: String,
    pub plugin_id: String,
}

struct Connection {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    responses: Receiver<std::io::Result<Option<Response>>>,
    shm: SharedMemory,
}

/// The out-of-process [`Backend`].
pub struct Sandbox {
    command: HostCommand,
    library: HostedLibrary,
    limits: Limits,
    conn: Option<Connection>,
    next_instance: Instance,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("plugin", &self.library.plugin_id).field("pid", &self.pid()).finish()
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// How a host process ended, in words.
fn ended(child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match (status.code(), status.signal()) {
                    (_, Some(sig)) => format!("the plugin host was killed by signal {sig} ({})", signal_name(sig)),
                    (Some(code), _) => format!("the plugin host exited with status {code}"),
                    _ => "the plugin host ended".into(),
                };
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return "the plugin host stopped answering and was killed".into();
            }
        }
    }
}

/// Spawns on a thread that lives as long as the process. `PR_SET_PDEATHSIG`
/// fires when the *thread* that forked ends, not the process: a host
/// spawned from a pipeline's processor thread or a blocking-pool thread
/// would be killed when that thread retires.
fn spawn_from_lasting_thread(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, crossbeam_channel::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<crossbeam_channel::Sender<Job>> = std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        std::thread::Builder::new()
            .name("plugin-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("a thread starts");
        tx
    });
    let (reply, answer) = crossbeam_channel::bounded(1);
    spawner.send((cmd, reply)).map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer.recv().map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

impl Sandbox {
    /// Starts the host and waits for the library to be opened and checked.
    pub fn start(
        command: HostCommand,
        library: HostedLibrary,
        limits: Limits,
    ) -> Result<(Self, LibraryInfo, Vec<NodeDescription>), SpawnError> {
        let mut sandbox = Self { command, library, limits, conn: None, next_instance: 1 };
        let (info, nodes) = sandbox.spawn()?;
        Ok((sandbox, info, nodes))
    }

    fn spawn(&mut self) -> Result<(LibraryInfo, Vec<NodeDescription>), SpawnError> {
        let failed = |what: &str, e: std::io::Error| SpawnError::Failed(format!("{what}: {e}"));
        let shm = SharedMemory::create(&format!("clipshot-plugin-{}", self.library.plugin_id), 1 << 20)
            .map_err(|e| failed("shared memory", e))?;
        // The host gets a read-only descriptor, not the engine's own.
        let host_fd = shm.read_only_fd().map_err(|e| failed("shared memory", e))?;
        let args = child::ChildArgs {
            library: self.library.path.clone(),
            sha256: self.library.sha256.clone(),
            symbol: self.library.symbol.clone(),
            plugin_id: self.library.plugin_id.clone(),
            shm_fd: host_fd.as_raw_fd(),
            shm_len: shm.len(),
        };
        let mut cmd = Command::new(&self.command.program);
        cmd.args(&self.command.args).args(args.to_args());
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let (fd, memory) = (host_fd.as_raw_fd(), self.limits.memory_bytes);
        // SAFETY: only async-signal-safe calls (fcntl, prctl, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // The shared memory is the one descriptor the child inherits on purpose.
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A host never outlives the engine.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(bytes) = memory {
                    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
                    libc::setrlimit(libc::RLIMIT_DATA, &limit);
                }
                Ok(())
            });
        }
        let mut child = spawn_from_lasting_thread(cmd)
            .map_err(|e| failed(&format!("cannot run {}", self.command.program.display()), e))?;
        drop(host_fd);
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name(format!("plugin-{}", self.library.plugin_id))
            .spawn(move || {
                loop {
                    let message = protocol::read(&mut stdout);
                    let end = !matches!(message, Ok(Some(_)));
                    if tx.send(message).is_err() || end {
                        break;
                    }
                }
            })
            .map_err(|e| {
                let _ = child.kill();
                let _ = child.wait();
                failed("reader thread", e)
            })?;
        let mut conn = Connection { child, stdin, responses: rx, shm };
        match conn.responses.recv_timeout(self.limits.start_timeout) {
            Ok(Ok(Some(Response::Ready { info, nodes }))) => {
                self.conn = Some(conn);
                Ok((info, nodes))
            }
            Ok(Ok(Some(Response::Refused(e)))) => {
                ended(&mut conn.child);
                Err(SpawnError::Refused(e))
            }
            Ok(Ok(Some(other))) => {
                let _ = conn.child.kill();
                let _ = conn.child.wait();
                Err(SpawnError::Failed(format!("unexpected first message {other:?}")))
            }
            Ok(_) | Err(RecvTimeoutError::Disconnected) => Err(SpawnError::Failed(ended(&mut conn.child))),
            Err(RecvTimeoutError::Timeout) => {
                let _ = conn.child.kill();
                let _ = conn.child.wait();
                Err(SpawnError::Failed(format!("the library did not open within {:?}", self.limits.start_timeout)))
            }
        }
    }

    fn call(&mut self, request: &Request) -> Result<Response, CallError> {
        let conn = self.conn.as_mut().ok_or_else(|| CallError::Crashed("the plugin host is not running".into()))?;
        if protocol::write(&mut conn.stdin, request).is_err() {
            let reason = ended(&mut conn.child);
            self.conn = None;
            return Err(CallError::Crashed(reason));
        }
        match conn.responses.recv_timeout(self.limits.call_timeout) {
            Ok(Ok(Some(response))) => Ok(response),
            Ok(_) | Err(RecvTimeoutError::Disconnected) => {
                let reason = ended(&mut conn.child);
                self.conn = None;
                Err(CallError::Crashed(reason))
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = conn.child.kill();
                let _ = conn.child.wait();
                self.conn = None;
                Err(CallError::Timeout(self.limits.call_timeout))
            }
        }
    }

    /// Puts an input's bytes into the shared memory: the one write.
    fn stage(&mut self, input: &InputRef<'_>) -> Result<InputMsg, CallError> {
        let conn = self.conn.as_mut().ok_or_else(|| CallError::Crashed("the plugin host is not running".into()))?;
        let grow = |shm: &mut SharedMemory, n: usize| {
            shm.ensure(n).map_err(|e| CallError::Crashed(format!("cannot grow the shared memory: {e}")))
        };
        Ok(match *input {
            InputRef::Video { format, width, height, planes, data, pts_ns } => {
                grow(&mut conn.shm, data.len())?;
                conn.shm.as_mut_slice()[..data.len()].copy_from_slice(data);
                InputMsg::Video { format, width, height, planes, len: data.len(), pts_ns }
            }
            InputRef::Audio { rate, channels, samples, pts_ns } => {
                grow(&mut conn.shm, samples.len() * 4)?;
                shm::write_floats(conn.shm.as_mut_slice(), samples);
                InputMsg::Audio { rate, channels, samples: samples.len(), pts_ns }
            }
            InputRef::Tensor { shape, data, pts_ns } => {
                grow(&mut conn.shm, data.len() * 4)?;
                shm::write_floats(conn.shm.as_mut_slice(), data);
                InputMsg::Tensor { shape: shape.to_vec(), len: data.len(), pts_ns }
            }
            InputRef::Event(json) => InputMsg::Event(json.to_owned()),
        })
    }

    fn unexpected(response: Response) -> CallError {
        match response {
            Response::Invalid(message) => {
                CallError::Refused { status: clipshot_plugin_sdk::abi::CS_INVALID_ARGUMENT, message }
            }
            other => CallError::Crashed(format!("the plugin host answered out of turn ({other:?})")),
        }
    }
}

impl Backend for Sandbox {
    fn create(&mut self, index: usize, args: &CreateArgs) -> Result<(Instance, CsVideoInput), CallError> {
        let instance = self.next_instance;
        self.next_instance += 1;
        match self.call(&Request::Create { instance, index, args: args.clone() })? {
            Response::Created { max_fps, width, format } => Ok((instance, CsVideoInput { max_fps, width, format })),
            Response::CreateFailed { status, message } => Err(CallError::Refused { status, message }),
            other => Err(Self::unexpected(other)),
        }
    }

    fn process(&mut self, instance: Instance, pad: &str, input: &InputRef<'_>) -> Result<CallResult, CallError> {
        let input = self.stage(input)?;
        let shm_len = self.conn.as_ref().map_or(0, |c| c.shm.len());
        match self.call(&Request::Process { instance, pad: pad.to_owned(), input, shm_len })? {
            Response::Done(result) => Ok(result),
            other => Err(Self::unexpected(other)),
        }
    }

    fn flush(&mut self, instance: Instance) -> Result<CallResult, CallError> {
        match self.call(&Request::Flush { instance })? {
            Response::Done(result) => Ok(result),
            other => Err(Self::unexpected(other)),
        }
    }

    fn stats(&mut self, instance: Instance) -> Result<serde_json::Value, CallError> {
        match self.call(&Request::Stats { instance })? {
            Response::Stats(json) => Ok(serde_json::from_str(&json).unwrap_or_default()),
            other => Err(Self::unexpected(other)),
        }
    }

    fn destroy(&mut self, instance: Instance) -> Result<(), CallError> {
        if self.conn.is_some() {
            self.call(&Request::Destroy { instance })?;
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn().map(|_| ()).map_err(|e| e.to_string())
    }

    fn stop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // Closing stdin ends a healthy host; a stuck one is killed.
            drop(conn.stdin);
            let deadline = Instant::now() + Duration::from_millis(200);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = conn.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = conn.child.kill();
            let _ = conn.child.wait();
        }
    }

    fn pid(&self) -> Option<u32> {
        self.conn.as_ref().map(|c| c.child.id())
    }

    fn shm_bytes(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.shm.len())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}
