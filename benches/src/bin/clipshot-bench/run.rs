//! Running the benchmark programs: one `cargo bench` each, its output kept
//! in a log, its `progress:` lines shown while it runs.

use anyhow::{Context, Result};
use clipshot_benches::report::Part;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Lines of a failed program's log shown in the terminal.
const TAIL_LINES: usize = 25;
/// Without a terminal, at most one progress line per this long (the log has them all).
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// How one program went.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub wall: Duration,
    /// Why it failed, with the tail of its log; `None` when it wrote its part.
    pub failure: Option<String>,
}

/// Removes a program's part from an earlier run, so a failed run cannot pass
/// the old figures off as new ones.
pub fn remove_part(parts: &Path, name: &str) -> Result<()> {
    let path = parts.join(format!("{name}.json"));
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the stale part {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Runs the programs one after another; a failure is reported and the rest still run.
pub fn run_all(names: &[String], quick: bool, timeout_min: u64, parts: &Path, logs: &Path) -> Result<Vec<Outcome>> {
    let limit = Duration::from_secs(timeout_min.saturating_mul(60));
    std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut ui = Ui::new(names.len());
    let mut outcomes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        remove_part(parts, name)?;
        ui.start(i, name);
        let started = Instant::now();
        let log = logs.join(format!("{name}.log"));
        let failure = match run_one(name, quick, limit, &log, &mut ui) {
            Ok(tail) => check(name, parts, &log, tail),
            Err(e) => Some(format!("{e:#}")),
        };
        let outcome = Outcome { name: name.clone(), wall: started.elapsed(), failure };
        ui.finish(&outcome);
        outcomes.push(outcome);
    }
    ui.done();
    Ok(outcomes)
}

/// What a finished program left: `None` when it succeeded and wrote its part.
fn check(
    name: &str,
    parts: &Path,
    log: &Path,
    (status, tail): (std::process::ExitStatus, Vec<String>),
) -> Option<String> {
    let part = parts.join(format!("{name}.json"));
    let why = if !status.success() {
        format!("{status}")
    } else if !part.exists() {
        "it exited successfully but wrote no part".to_string()
    } else if let Err(e) = std::fs::read_to_string(&part)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Part>(&text).map_err(|e| e.to_string()))
    {
        format!("its part {} does not read back: {e}", part.display())
    } else {
        return None;
    };
    let tail: Vec<String> = tail.iter().map(|l| format!("    {l}")).collect();
    Some(format!("{why}; the last lines of {}:\n{}", log.display(), tail.join("\n")))
}

/// The workspace root (the benches crate's parent), where `cargo bench` finds
/// the workspace whatever directory the runner was started from.
fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if root.join("Cargo.toml").exists() { root } else { PathBuf::from(".") }
}

enum Line {
    Out(String),
    Err(String),
}

/// Runs `cargo bench … --bench NAME`, logging both streams; returns its
/// status and the last lines it printed. Past `limit` the program and
/// everything it started (its process group: cargo, the bench, a daemon)
/// are killed.
fn run_one(
    name: &str,
    quick: bool,
    limit: Duration,
    log: &Path,
    ui: &mut Ui,
) -> Result<(std::process::ExitStatus, Vec<String>)> {
    use std::os::unix::process::CommandExt;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args(["bench", "-p", "clipshot-benches", "--bench", name, "--"]);
    if quick {
        command.arg("--quick");
    }
    command.current_dir(workspace_root()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.process_group(0);

    let mut file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    writeln!(file, "$ {command:?}").with_context(|| format!("writing {}", log.display()))?;
    let mut child = command.spawn().with_context(|| format!("starting {}", cargo.to_string_lossy()))?;

    // Both streams at once, so neither pipe fills while the other is read.
    let (tx, rx) = mpsc::channel();
    let readers = [
        child.stdout.take().map(|s| reader(s, tx.clone(), Line::Out)),
        child.stderr.take().map(|s| reader(s, tx, Line::Err)),
    ];
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut log_error = None;
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    loop {
        let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // SAFETY: kill(2) on the group this child leads; no memory is involved.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
                timed_out = true;
                break;
            }
        };
        let text = match &line {
            Line::Out(t) | Line::Err(t) => t,
        };
        if let Err(e) = writeln!(file, "{text}") {
            // Keep reading: the program must not block on a full pipe.
            log_error.get_or_insert(e);
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.clone());
        match &line {
            Line::Out(t) => {
                if let Some(message) = t.strip_prefix("progress: ") {
                    ui.progress(name, message.trim());
                }
            }
            // Cargo's own lines, before the program prints anything.
            Line::Err(t) => {
                let t = t.trim_start();
                if let Some(what) = t.strip_prefix("Compiling ") {
                    ui.progress(name, &format!("compiling {what}"));
                } else if t.starts_with("Running ") {
                    ui.progress(name, "starting");
                }
            }
        }
    }
    for handle in readers.into_iter().flatten() {
        let _ = handle.join();
    }
    let status = child.wait().with_context(|| format!("waiting for cargo bench --bench {name}"))?;
    if timed_out {
        let _ = writeln!(file, "clipshot-bench: stopped after {} min (--timeout-min)", limit.as_secs() / 60);
        anyhow::bail!("it ran past {} min and was stopped (log: {})", limit.as_secs() / 60, log.display());
    }
    if let Some(e) = log_error {
        return Err(e).with_context(|| format!("writing {}", log.display()));
    }
    Ok((status, tail.into()))
}

/// Sends each line of `stream` (invalid UTF-8 replaced) until it closes.
fn reader<R: Read + Send + 'static>(
    stream: R,
    tx: mpsc::Sender<Line>,
    wrap: fn(String) -> Line,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stream = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stream.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(wrap(line)).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// Bars on a terminal; without one (CI, a pipe), the same bars hidden and
/// plain lines printed instead.
struct Ui {
    multi: MultiProgress,
    overall: ProgressBar,
    current: ProgressBar,
    plain: bool,
    total: usize,
    index: usize,
    started: Instant,
    last_plain: Option<Instant>,
}

impl Ui {
    fn new(total: usize) -> Self {
        let plain = !std::io::stdout().is_terminal();
        let target = if plain { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stdout() };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64));
        // The templates are constants: a broken one is a bug here, caught by any run.
        overall.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:32.cyan/blue} {pos}/{len} programs  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let current = multi.add(ProgressBar::new_spinner());
        current.set_style(
            ProgressStyle::with_template("{spinner:.green} {prefix:.bold}: {wide_msg} [{elapsed}]")
                .expect("valid template"),
        );
        if !plain {
            overall.enable_steady_tick(Duration::from_millis(500));
            current.enable_steady_tick(Duration::from_millis(120));
        }
        Self { multi, overall, current, plain, total, index: 0, started: Instant::now(), last_plain: None }
    }

    fn say(&self, line: &str) {
        if self.plain {
            println!("{line}");
        } else {
            // Above the bars, which redraw below it.
            let _ = self.multi.println(line);
        }
    }

    fn stamp(&self) -> String {
        let s = self.started.elapsed().as_secs();
        format!("[{:02}:{:02}:{:02}] [{}/{}]", s / 3600, s / 60 % 60, s % 60, self.index + 1, self.total)
    }

    fn start(&mut self, index: usize, name: &str) {
        self.index = index;
        self.overall.set_message(name.to_string());
        self.current.set_prefix(name.to_string());
        self.current.set_message("starting cargo bench");
        self.current.reset_elapsed();
        self.last_plain = None;
        if self.plain {
            self.say(&format!("{} {name}: started", self.stamp()));
        }
    }

    fn progress(&mut self, name: &str, message: &str) {
        self.current.set_message(message.to_string());
        if self.plain && self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            self.last_plain = Some(Instant::now());
            self.say(&format!("{} {name}: {message}", self.stamp()));
        }
    }

    fn finish(&mut self, o: &Outcome) {
        let wall = o.wall.as_secs_f64();
        match &o.failure {
            None => self.say(&format!("{} {}: done in {wall:.1} s", self.stamp(), o.name)),
            Some(why) => self.say(&format!("{} {}: FAILED after {wall:.1} s: {why}", self.stamp(), o.name)),
        }
        self.overall.inc(1);
    }

    fn done(&self) {
        self.current.finish_and_clear();
        self.overall.finish_with_message("done");
    }
}
