//! Highlight detection measured against the truth: labelled play of a real
//! game (ViZDoom deathmatch, `benches/vizdoom/generate.py`) scored by
//! `clipshot analyze` with a profile, then compared with the game's own
//! record of every kill.
//!
//! Reports, per profile: precision and recall of kills within ±2 s, false
//! auto-clips per 10 minutes (clips built from the highlights exactly as the
//! scorer builds them, containing no kill), detection delay after the kill
//! (p50/p95, from the kill to the score crossing the threshold), and the
//! analysis cost per analysed input of each detector.
//!
//! Environment: `CLIPSHOT_EVAL_DIR` (default `target/eval/vizdoom`),
//! `CLIPSHOT_EVAL_MINUTES` (default 20, used when the recording is made),
//! `CLIPSHOT_EVAL_PROFILES` (default `vizdoom,generic`). The recording is
//! made once, with `.venv`'s Python and `vizdoom` (`make bench-highlights`
//! installs it), and reused after.

use clipshot_runtime::analyze::{Analysis, FoundHighlight, analyze_file};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TOLERANCE_S: f64 = 2.0;

#[derive(Debug, Clone, Copy)]
struct Label {
    t_s: f64,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kill,
    Death,
    Other,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dataset(dir: &Path) -> (PathBuf, Vec<Label>, f64) {
    let (video, labels) = (dir.join("play.mp4"), dir.join("labels.json"));
    if !video.is_file() || !labels.is_file() {
        let minutes = std::env::var("CLIPSHOT_EVAL_MINUTES").unwrap_or_else(|_| "20".into());
        let python = root().join(".venv/bin/python");
        eprintln!("recording {minutes} min of labelled ViZDoom play into {} …", dir.display());
        let status = Command::new(&python)
            .arg(root().join("benches/vizdoom/generate.py"))
            .args(["--minutes", &minutes, "--out"])
            .arg(dir)
            .status()
            .unwrap_or_else(|e| panic!("{} cannot run ({e}): run `make bench-highlights`", python.display()));
        assert!(status.success(), "the ViZDoom recording failed");
    }
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&labels).unwrap()).unwrap();
    let events = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Label {
            t_s: e["t_s"].as_f64().unwrap(),
            kind: match e["kind"].as_str().unwrap() {
                "kill" => Kind::Kill,
                "death" => Kind::Death,
                _ => Kind::Other,
            },
        })
        .collect();
    (video, events, doc["duration_s"].as_f64().unwrap())
}

fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let i = ((values.len() - 1) as f64 * p).round() as usize;
    Some(values[i])
}

/// The auto-clips the scorer would save: each highlight with its rolls,
/// overlapping ones merged, none starting within the cooldown of the last.
fn clips(highlights: &[FoundHighlight], profile: &clipshot_analysis::Profile) -> Vec<(f64, f64)> {
    let mut clips: Vec<(f64, f64)> = Vec::new();
    let mut last_end: Option<f64> = None;
    for h in highlights {
        let (start, end) = (h.start_s - f64::from(profile.pre_roll_s), h.end_s + f64::from(profile.post_roll_s));
        match clips.last_mut() {
            Some(c) if start <= c.1 => c.1 = c.1.max(end),
            _ => {
                if last_end.is_some_and(|l| h.start_s < l + f64::from(profile.cooldown_s)) {
                    continue;
                }
                clips.push((start, end));
            }
        }
        last_end = clips.last().map(|c| c.1);
    }
    clips
}

fn evaluate(
    analysis: &Analysis,
    labels: &[Label],
    duration_s: f64,
    wall_s: f64,
    profile_name: &str,
) -> serde_json::Value {
    let profile =
        clipshot_analysis::profile::load(profile_name, &clipshot_analysis::profile::dirs(Path::new("/nonexistent")))
            .expect("the profile loads");
    let kills: Vec<f64> = labels.iter().filter(|l| l.kind == Kind::Kill).map(|l| l.t_s).collect();
    let near = |h: &FoundHighlight, t: f64| t >= h.start_s - TOLERANCE_S && t <= h.end_s + TOLERANCE_S;
    let h = &analysis.highlights;
    let true_highlights = h.iter().filter(|h| kills.iter().any(|&t| near(h, t))).count();
    let mut delays = Vec::new();
    let mut found = 0;
    for &t in &kills {
        if let Some(first) = h.iter().find(|h| near(h, t)) {
            found += 1;
            delays.push((first.start_s - t).max(0.0));
        }
    }
    let clips = clips(h, &profile);
    let false_clips = clips.iter().filter(|(s, e)| !kills.iter().any(|&t| t >= *s && t <= *e)).count();
    let precision = if h.is_empty() { 0.0 } else { true_highlights as f64 / h.len() as f64 };
    let recall = if kills.is_empty() { 0.0 } else { found as f64 / kills.len() as f64 };
    let deaths_flagged = labels
        .iter()
        .filter(|l| l.kind == Kind::Death)
        .filter(|l| h.iter().any(|h| near(h, l.t_s) && !kills.iter().any(|&t| near(h, t))))
        .count();
    json!({
        "profile": profile_name,
        "minutes": duration_s / 60.0,
        "kills": kills.len(),
        "deaths": labels.iter().filter(|l| l.kind == Kind::Death).count(),
        "highlights": h.len(),
        "precision": precision,
        "recall": recall,
        "auto_clips": clips.len(),
        "false_clips_per_10_min": false_clips as f64 / (duration_s / 600.0),
        "highlights_at_a_death_only": deaths_flagged,
        "delay_p50_s": percentile(&mut delays.clone(), 0.5),
        "delay_p95_s": percentile(&mut delays, 0.95),
        "wall_s": wall_s,
        "realtime_factor": duration_s / wall_s,
        "detectors": analysis.detectors.iter().map(|d| json!({
            "node": d.node, "kind": d.kind, "inputs": d.inputs, "ms_per_input": d.ms_per_input,
            "inputs_per_s_of_play": d.inputs as f64 / duration_s,
        })).collect::<Vec<_>>(),
    })
}

fn main() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("ORT_DYLIB_PATH is not set: run `make bench-highlights`");
        std::process::exit(2);
    }
    let dir = std::env::var_os("CLIPSHOT_EVAL_DIR").map_or_else(|| root().join("target/eval/vizdoom"), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let (video, labels, duration_s) = dataset(&dir);
    let profiles = std::env::var("CLIPSHOT_EVAL_PROFILES").unwrap_or_else(|_| "vizdoom,generic".into());
    let data = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for profile in profiles.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        eprintln!("scoring {} with `{profile}` …", video.display());
        let started = Instant::now();
        let analysis = analyze_file(&video, profile, data.path(), &|_| true).expect("the analysis runs");
        let wall_s = started.elapsed().as_secs_f64();
        let report = evaluate(&analysis, &labels, duration_s, wall_s, profile);
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
        let highlights = dir.join(format!("highlights-{profile}.json"));
        std::fs::write(&highlights, serde_json::to_vec_pretty(&analysis).unwrap()).unwrap();
        reports.push(report);
    }
    let out = dir.join("report.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&reports).unwrap()).unwrap();
    println!("\nprofile    kills  highlights  precision  recall  false clips/10 min  delay p50/p95 s  × real time");
    for r in &reports {
        println!(
            "{:<10} {:>5}  {:>10}  {:>9.3}  {:>6.3}  {:>18.2}  {:>6.2} / {:<6.2}  {:>6.1}",
            r["profile"].as_str().unwrap(),
            r["kills"],
            r["highlights"],
            r["precision"].as_f64().unwrap(),
            r["recall"].as_f64().unwrap(),
            r["false_clips_per_10_min"].as_f64().unwrap(),
            r["delay_p50_s"].as_f64().unwrap_or(f64::NAN),
            r["delay_p95_s"].as_f64().unwrap_or(f64::NAN),
            r["realtime_factor"].as_f64().unwrap(),
        );
    }
    eprintln!("wrote {}", out.display());
}
