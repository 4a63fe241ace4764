//! `clipshot`: the daemon and its command-line client.

use anyhow::Context;
use clap::{Parser, Subcommand};
use clipshot::config::{Config, Overrides};
use clipshot_core::{GraphSpec, PadDirection, validate::validate};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "clipshot",
    version,
    about = "GPU-first instant replay: the last 30 seconds of your game, as an MP4, in milliseconds"
)]
struct Cli {
    /// Data folder (database, token, clips); `CLIPSHOT_DATA_DIR`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// API port; `CLIPSHOT_PORT`.
    #[arg(long, global = true)]
    port: Option<u16>,
    /// Configuration file (default: `clipshot.toml` in the current folder).
    #[arg(long, global = true, env = "CLIPSHOT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: the default pipeline, the API and the hotkey.
    Serve {
        /// Address to bind (default 127.0.0.1).
        #[arg(long)]
        host: Option<IpAddr>,
        /// Pipeline preset or TOML file to record with.
        #[arg(long)]
        pipeline: Option<String>,
        /// obs-websocket port (default 4455; 0 picks a free one); `CLIPSHOT_OBS_WEBSOCKET_PORT`.
        #[arg(long)]
        obs_websocket_port: Option<u16>,
    },
    /// Ask the running daemon to save a clip, and print its path.
    Clip {
        /// Seconds before now (default: `clip_seconds` of the configuration).
        #[arg(long)]
        seconds: Option<f64>,
        /// Pipeline to save from (default: the daemon's default pipeline).
        #[arg(long)]
        pipeline: Option<String>,
        /// Print the clip as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open the dashboard in a browser, logged in. The browser gets a
    /// one-time link (valid 2 minutes), never the token.
    Open {
        /// Print the link instead of starting a browser.
        #[arg(long)]
        print: bool,
    },
    /// Score recordings for highlights with a game profile, and print them.
    Analyze {
        /// A profile name: `generic`, or `NAME` for `<data dir>/profiles/NAME.toml`.
        #[arg(long, default_value = "generic")]
        profile: String,
        /// Print the highlights as JSON.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Pipeline graphs.
    Pipelines {
        #[command(subcommand)]
        command: PipelinesCommand,
    },
    /// List node kinds with their pads and props.
    Nodes {
        #[arg(long)]
        json: bool,
    },
    /// Plugins: pack one you wrote; list, install, enable and disable them
    /// in the running daemon.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Build the plugin in DIR (cargo or make, release) and write an
    /// installable `<id>-<version>.tar.gz` with the binary's SHA-256 filled in.
    Pack {
        dir: PathBuf,
        /// Where the archive goes.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Cargo's target folder (cargo's default when not given).
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// The daemon's plugins and their status.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Install an archive into the daemon (and load it).
    Install {
        archive: PathBuf,
        /// Permissions to grant, as the manifest asks (`screen,gpu`).
        #[arg(long, value_delimiter = ',')]
        grant: Vec<String>,
    },
    /// Enable a plugin (persisted) and load it.
    Enable { id: String },
    /// Disable a plugin (persisted) and unload it.
    Disable { id: String },
}

#[derive(Debug, Subcommand)]
enum PipelinesCommand {
    /// Check graph files; prints every problem and exits 1 on any.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // A plugin host process (`clipshot plugin-host …`, started by the
    // daemon for each out-of-process plugin) does nothing else: no config,
    // no logging setup, no `.env`.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("plugin-host") {
        return match clipshot_runtime::plugin::ChildArgs::parse(&args[2..]) {
            Ok(host) => ExitCode::from(clipshot_runtime::plugin::serve_host(&host).clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("error: plugin-host: {e}");
                ExitCode::from(2)
            }
        };
    }
    // `.env` in the working folder, as the original design read it: below
    // the real environment (a variable already set is never replaced).
    let dotenv = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Err(e) = dotenv.as_ref().map(drop).or_else(|e| if e.not_found() { Ok(()) } else { Err(e) }) {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr; `RUST_LOG` wins over `filter` when set. The returned
/// handle changes the filter live (`PATCH /api/v1/config` with `log`).
fn init_logging(filter: &str) -> clipshot::server::LogReload {
    use tracing_subscriber::prelude::*;
    let initial = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let (layer, handle) = tracing_subscriber::reload::Layer::new(initial);
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    std::sync::Arc::new(move |filter: &str| {
        let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides { data_dir: cli.data_dir, port: cli.port, ..Overrides::default() };
    if let Command::Serve { host, pipeline, obs_websocket_port } = &cli.command {
        overrides.host = *host;
        overrides.pipeline.clone_from(pipeline);
        overrides.obs_websocket_port = *obs_websocket_port;
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve { .. } => {
            let log = init_logging(&config.log_filter());
            for warning in clipshot::config::env_warnings() {
                tracing::warn!("{warning}");
            }
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.enable_all();
            if let Some(n) = config.max_workers {
                runtime.max_blocking_threads(n.max(1) as usize);
            }
            runtime.build()?.block_on(clipshot::server::serve(config, cli.config.as_deref(), &overrides, log))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Clip { seconds, pipeline, json } => {
            init_logging("warn");
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let clip = runtime.block_on(async {
                clipshot::client::Client::new(&config)?.save_clip(pipeline.as_deref(), seconds).await
            })?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&clip)?)?;
            } else {
                writeln!(out, "{}", clip["path"].as_str().context("the daemon's answer has no path")?)?;
            }
            // A clip that is not what was asked for says so, plainly (on stderr,
            // so scripts that read the path keep working).
            if let Some(short) = clip["shortfall"].as_str() {
                let _ = writeln!(std::io::stderr(), "warning: {short}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Open { print } => {
            init_logging("warn");
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let link = runtime.block_on(async { clipshot::client::Client::new(&config)?.dashboard_link().await })?;
            let mut out = std::io::stdout().lock();
            if print {
                writeln!(out, "{link}")?;
            } else if let Err(e) = webbrowser::open(&link) {
                writeln!(out, "cannot start a browser ({e}); open this link (once, within 2 minutes):\n{link}")?;
            } else {
                writeln!(out, "opened the dashboard in your browser")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze { profile, json, files } => {
            init_logging("warn");
            // The models the daemon would use: `models_dir`, then the shipped ones.
            clipshot_analysis::install(std::sync::Arc::new(clipshot::server::ai_service(&config)));
            analyze(&files, &profile, json, &config)
        }
        Command::Pipelines { command: PipelinesCommand::Validate { files } } => validate_files(&files),
        Command::Nodes { json } => print_nodes(json),
        Command::Plugins { command } => plugins(command, &config),
    }
}

/// `clipshot plugins …`.
fn plugins(command: PluginsCommand, config: &Config) -> anyhow::Result<ExitCode> {
    init_logging("warn");
    let mut out = std::io::stdout().lock();
    if let PluginsCommand::Pack { dir, out: out_dir, target_dir } = command {
        let options = clipshot_runtime::plugin::pack::PackOptions { target_dir, verbose: true };
        let archive = clipshot_runtime::plugin::pack::pack(&dir, &out_dir, &options)
            .with_context(|| format!("cannot pack {}", dir.display()))?;
        writeln!(out, "{}", archive.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let as_json = matches!(command, PluginsCommand::List { json: true });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = clipshot::client::Client::new(config)?;
    let shown = runtime.block_on(async {
        match command {
            PluginsCommand::Pack { .. } => unreachable!("handled above"),
            PluginsCommand::List { .. } => client.get("/api/v1/plugins").await,
            PluginsCommand::Install { archive, grant } => {
                let archive =
                    std::fs::canonicalize(&archive).with_context(|| format!("cannot read {}", archive.display()))?;
                let body = serde_json::json!({"source": archive, "grant": grant});
                // The route names the plugin; the archive's manifest says which it is.
                let id = clipshot_runtime::plugin::archive::peek_id(&archive)?;
                client.post(&format!("/api/v1/plugins/{id}/install"), &body).await
            }
            PluginsCommand::Enable { id } => {
                client.post(&format!("/api/v1/plugins/{id}/enable"), &serde_json::json!({})).await
            }
            PluginsCommand::Disable { id } => {
                client.post(&format!("/api/v1/plugins/{id}/disable"), &serde_json::json!({})).await
            }
        }
    })?;
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let list = shown.as_array().cloned().unwrap_or_else(|| vec![shown.clone()]);
    for p in &list {
        let error = p["error"]["message"].as_str().map(|m| format!("  ({m})")).unwrap_or_default();
        writeln!(
            out,
            "{:<40} {:<10} {:<8} {}{error}",
            p["id"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or(""),
            p["status"].as_str().unwrap_or(""),
            p["node_kinds"]
                .as_array()
                .map(|k| k.iter().filter_map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `clipshot analyze`: each file in turn, a progress bar on a terminal.
fn analyze(files: &[PathBuf], profile: &str, json: bool, config: &Config) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let mut results = Vec::new();
    let mut failed = false;
    for file in files {
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(1000);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}% ({eta} left)")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(file.display().to_string());
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let progress = |f: f64| {
            bar.set_position((f * 1000.0) as u64);
            true
        };
        let result = clipshot_runtime::analyze::analyze_file(file, profile, &config.data_dir, &progress);
        bar.finish_and_clear();
        match result {
            Ok(analysis) => results.push(analysis),
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&results)?)?;
    } else {
        for a in &results {
            writeln!(
                out,
                "{} ({:.1} s, profile {}): {} highlight(s)",
                a.file.display(),
                a.duration_s,
                a.profile,
                a.highlights.len()
            )?;
            for h in &a.highlights {
                writeln!(
                    out,
                    "  {:>8.2} – {:>8.2} s  peak {:>8.2} s  score {:.2}  {} ({})",
                    h.start_s,
                    h.end_s,
                    h.peak_s,
                    h.score,
                    h.label,
                    h.detectors.join(", ")
                )?;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn validate_files(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let registry = clipshot_runtime::registry()?;
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for file in files {
        let name = file.display();
        let spec = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| GraphSpec::from_toml(&text).map_err(|e| e.to_string()));
        match spec.map(|spec| validate(&spec, &registry)) {
            Err(e) => {
                failed = true;
                writeln!(out, "{name}: {e}")?;
            }
            Ok(Err(errors)) => {
                failed = true;
                writeln!(out, "{name}: {} problem(s)", errors.problems.len())?;
                for p in &errors.problems {
                    writeln!(out, "  {p}")?;
                }
            }
            Ok(Ok(graph)) if graph.warnings().is_empty() => writeln!(out, "{name}: ok")?,
            // Optional parts that cannot run here now: the pipeline runs without them.
            Ok(Ok(graph)) => {
                writeln!(out, "{name}: ok, without {} optional part(s) for now", graph.warnings().len())?;
                for p in graph.warnings() {
                    writeln!(out, "  warning: {p}")?;
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_nodes(json: bool) -> anyhow::Result<ExitCode> {
    let registry = clipshot_runtime::registry()?;
    let mut out = std::io::stdout().lock();
    if json {
        let all: Vec<_> = registry.descriptors().collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for d in registry.descriptors() {
        let how = match d.implementation {
            clipshot_core::Implementation::Segment => "",
            clipshot_core::Implementation::Processor => " [processor]",
        };
        writeln!(out, "{}  {}{how}", d.kind, d.summary)?;
        for pad in &d.pads {
            let dir = if pad.direction == PadDirection::In { "in " } else { "out" };
            let req = if pad.required { "" } else { " (optional)" };
            writeln!(out, "    {dir} {:<8} {}{req}", pad.name, pad.accepted())?;
        }
        if let Some(props) = d.props_schema["properties"].as_object() {
            let names: Vec<String> = props
                .iter()
                .map(|(k, v)| match v.get("default") {
                    Some(def) => format!("{k}={def}"),
                    None => k.clone(),
                })
                .collect();
            writeln!(out, "    props: {}", if names.is_empty() { "none".into() } else { names.join(", ") })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
