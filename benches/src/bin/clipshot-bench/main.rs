//! `clipshot-bench`: runs the benchmark programs (`benches/benches/*.rs`),
//! merges the parts they write into `target/bench/report.{json,md}` and draws
//! the plots into `target/bench/plots`.

mod machine;
mod plot;
mod report;
mod run;

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::Path;
use std::process::ExitCode;

/// The programs, in the order a whole run takes them (the quick ones first,
/// so a broken setup shows early), with a line each for `--list`.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("micro", "micro-benchmarks of the hot paths (no peer)"),
    ("record_path", "save latency vs gst-launch remux and cp+fsync, record CPU vs gst-launch, ring memory vs bitrate"),
    ("latency", "per-frame latency from capture into the ring"),
    ("remote_save", "a save over obs-websocket vs the REST save"),
    ("api_load", "the REST API under load while recording vs an axum hello-world"),
    ("plugins", "the plugin boundary's per-call cost vs a built-in node"),
    ("inference", "preprocessing + inference vs Python onnxruntime; analysis fps while recording"),
    ("highlights", "highlight detection scored against a labelled ViZDoom recording"),
];

#[derive(Debug, Parser)]
#[command(
    name = "clipshot-bench",
    about = "Runs ClipShot's benchmark programs and writes target/bench/report.json, report.md and plots/",
    after_help = "Each program runs as `cargo bench -p clipshot-benches --bench NAME`; its output goes to \
                  target/bench/logs/NAME.log. Naming some programs re-runs them and keeps the other \
                  programs' earlier parts in the report."
)]
struct Cli {
    /// Run the short variants (the figures are indicative only).
    #[arg(long)]
    quick: bool,
    /// List the programs, a line each, and exit.
    #[arg(long)]
    list: bool,
    /// Run nothing: write the report and plots from the parts already in target/bench/parts.
    #[arg(long, conflicts_with_all = ["names", "quick"])]
    report_only: bool,
    /// Stop a program that runs longer than this many minutes (its build included) and report it failed.
    #[arg(long, value_name = "MINUTES", default_value_t = 30)]
    timeout_min: u64,
    /// The programs to run, in this order (default: all).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clipshot-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The named programs, checked and without repeats; all of them for none.
fn select(names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(PROGRAMS.iter().map(|(n, _)| n.to_string()).collect());
    }
    let mut chosen: Vec<String> = Vec::new();
    for name in names {
        if !PROGRAMS.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
            bail!("no benchmark program is called `{name}`; the programs are: {} (see --list)", known.join(", "));
        }
        if !chosen.contains(name) {
            chosen.push(name.clone());
        }
    }
    Ok(chosen)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    if cli.list {
        for (name, what) in PROGRAMS {
            println!("{name:<12} {what}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let names = if cli.report_only { Vec::new() } else { select(&cli.names)? };
    let whole_suite = cli.names.is_empty() && !cli.report_only;
    // Before hours of benchmarks, not after.
    plot::init_font()?;

    let out = clipshot_benches::report::out_dir();
    let parts_dir = out.join("parts");
    let outcomes = if names.is_empty() {
        Vec::new()
    } else {
        run::run_all(&names, cli.quick, cli.timeout_min, &parts_dir, &out.join("logs"))?
    };
    let failed: Vec<&run::Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();

    // A whole run reports only what it measured; a partial one (or
    // --report-only) keeps the other programs' earlier parts.
    let gathered = report::gather(&parts_dir, &names, !whole_suite)?;
    if gathered.is_empty() {
        bail!("no parts in {}: nothing to report", parts_dir.display());
    }
    let created = report::rfc3339_utc(std::time::SystemTime::now());
    let (report, samples) = report::merge(gathered, cli.quick, machine::Machine::describe(), created);

    let json_path = out.join("report.json");
    write(&json_path, &serde_json::to_vec_pretty(&report).context("serializing the report")?)?;
    let md_path = out.join("report.md");
    write(&md_path, report::markdown(&report).as_bytes())?;
    let plots_dir = out.join("plots");
    plot::plot_all(&plots_dir, &report.series, &samples)?;

    println!();
    print!("{}", report::headline_text(&report));
    println!();
    if !report.headline_missing.is_empty() {
        eprintln!("warning: headline figures missing: {}", report.headline_missing.join(", "));
    }
    for o in &failed {
        eprintln!("failed: {} (log: {})", o.name, out.join("logs").join(format!("{}.log", o.name)).display());
    }
    println!("report: {}", json_path.display());
    println!("        {}", md_path.display());
    println!("plots:  {}", plots_dir.display());

    // A quick run is a subset by design (the highlight evaluation needs its
    // 20-minute recording): missing figures are reported, not failed.
    let incomplete = whole_suite && !cli.quick && !report.headline_missing.is_empty();
    Ok(if failed.is_empty() && !incomplete { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_programs() {
        assert_eq!(select(&[]).unwrap().len(), PROGRAMS.len());
        let picked = select(&["latency".into(), "micro".into(), "latency".into()]).unwrap();
        assert_eq!(picked, ["latency", "micro"]);
        let err = select(&["nope".into()]).unwrap_err().to_string();
        assert!(err.contains("`nope`") && err.contains("record_path"), "{err}");
    }
}
