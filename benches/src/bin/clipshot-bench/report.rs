//! The programs' parts merged into one report, and that report as Markdown
//! and as the plain headline table printed at the end.

use crate::machine::Machine;
use crate::plot;
use anyhow::{Context, Result};
use clipshot_benches::report::{Distribution, Entry, Part, Series, Summary, quantile};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The figures the issues ask for, in the order the headline table shows them.
pub const HEADLINES: &[&str] = &[
    "save_vs_gst_remux",
    "save_vs_cp_fsync",
    "record_cpu_vs_gst_launch",
    "frame_latency_capture_to_ring",
    "infer_vs_python_ort",
    "analysis_fps_1080p_while_recording",
    "highlight_eval",
    "api_vs_hello_world",
    "obs_websocket_save_vs_rest",
    "plugin_call_vs_builtin",
    "ring_memory_vs_bitrate",
];

/// `target/bench/report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// RFC 3339, UTC.
    pub created: String,
    /// Whether any part is a short variant (its figures are indicative only).
    pub quick: bool,
    pub machine: Machine,
    pub entries: Vec<Entry>,
    pub headline_missing: Vec<String>,
    pub series: Vec<Series>,
    /// Summaries only: the samples stay in the parts, and are drawn in the plots.
    pub distributions: Vec<DistributionSummary>,
    pub parts: Vec<PartInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistributionSummary {
    pub name: String,
    pub title: String,
    pub unit: String,
    pub sets: Vec<SetSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetSummary {
    pub label: String,
    /// `None` for a set without samples.
    pub summary: Option<Summary>,
    pub p999: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartInfo {
    pub bench: String,
    pub wall_s: f64,
    pub quick: bool,
    /// False for a part an earlier run left (only some programs were run now).
    pub this_run: bool,
}

/// A part read back from `target/bench/parts`.
#[derive(Debug)]
pub struct Gathered {
    pub part: Part,
    pub this_run: bool,
}

/// Reads the parts in `dir`: those of the programs in `ran`, and with
/// `keep_earlier` every other part too, so that re-running one program keeps
/// the report whole. In the programs' order, then by name.
pub fn gather(dir: &Path, ran: &[String], keep_earlier: bool) -> Result<Vec<Gathered>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut found = Vec::new();
    for file in listing {
        let path = file.with_context(|| format!("reading {}", dir.display()))?.path();
        let Some(stem) =
            path.file_stem().and_then(|s| s.to_str()).filter(|_| path.extension().is_some_and(|e| e == "json"))
        else {
            continue;
        };
        let this_run = ran.iter().any(|r| r == stem);
        if !this_run && !keep_earlier {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        match serde_json::from_str::<Part>(&text) {
            Ok(part) => found.push(Gathered { part, this_run }),
            // One program's broken part must not cost the others their report.
            Err(e) => eprintln!("warning: left out {}: not a part ({e})", path.display()),
        }
    }
    let rank = |bench: &str| crate::PROGRAMS.iter().position(|(n, _)| *n == bench).unwrap_or(usize::MAX);
    found.sort_by(|a, b| (rank(&a.part.bench), &a.part.bench).cmp(&(rank(&b.part.bench), &b.part.bench)));
    Ok(found)
}

/// The parts as one report, and the samples of their distributions (for the plots).
pub fn merge(gathered: Vec<Gathered>, quick: bool, machine: Machine, created: String) -> (Report, Vec<Distribution>) {
    let mut report = Report {
        created,
        quick: quick || gathered.iter().any(|g| g.part.quick),
        machine,
        entries: Vec::new(),
        headline_missing: Vec::new(),
        series: Vec::new(),
        distributions: Vec::new(),
        parts: Vec::new(),
    };
    let mut distributions = Vec::new();
    for Gathered { part, this_run } in gathered {
        report.parts.push(PartInfo { bench: part.bench, wall_s: part.wall_s, quick: part.quick, this_run });
        report.entries.extend(part.entries);
        report.series.extend(part.series);
        distributions.extend(part.distributions);
    }
    report.headline_missing =
        HEADLINES.iter().filter(|h| !report.entries.iter().any(|e| e.name == **h)).map(|h| h.to_string()).collect();
    report.distributions = distributions.iter().map(summarize).collect();
    (report, distributions)
}

fn summarize(d: &Distribution) -> DistributionSummary {
    let sets = d
        .sets
        .iter()
        .map(|(label, samples)| {
            let summary = Summary::of(samples);
            let p999 = summary.map(|_| {
                let mut s: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
                s.sort_by(f64::total_cmp);
                quantile(&s, 0.999)
            });
            SetSummary { label: label.clone(), summary, p999 }
        })
        .collect();
    DistributionSummary { name: d.name.clone(), title: d.title.clone(), unit: d.unit.clone(), sets }
}

/// A number with about four significant digits, "–" for none.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞".into() } else { "-∞".into() };
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 1e-6 {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

fn median_cell(s: &clipshot_benches::report::Side) -> String {
    format!("{} {}", num(s.summary.median), s.unit)
}

/// One row of an entries table, as text ("missing" for a headline not measured).
#[derive(Debug)]
pub struct Row {
    pub name: String,
    pub title: String,
    pub ours: String,
    pub peer: String,
    pub ratio: String,
    pub goal: String,
    pub met: Option<bool>,
}

fn row(e: &Entry) -> Row {
    Row {
        name: e.name.clone(),
        title: e.title.clone(),
        ours: median_cell(&e.ours),
        peer: e.peer.as_ref().map_or_else(|| "–".into(), median_cell),
        ratio: e.ratio.map_or_else(|| "–".into(), |r| format!("{}×", num(r))),
        goal: e.goal.as_ref().map_or_else(|| "–".into(), |g| g.text.clone()),
        met: e.goal_met,
    }
}

/// The headline names in order, measured or not.
pub fn headline_rows(r: &Report) -> Vec<Row> {
    HEADLINES
        .iter()
        .map(|h| match r.entries.iter().find(|e| e.name == *h) {
            Some(e) => row(e),
            None => Row {
                name: h.to_string(),
                title: String::new(),
                ours: "missing".into(),
                peer: "–".into(),
                ratio: "–".into(),
                goal: "–".into(),
                met: None,
            },
        })
        .collect()
}

/// A table cell: no pipe or line break may end the cell early.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Inline code that survives backticks in the text.
fn code(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.contains('`') { format!("`` {s} ``") } else { format!("`{s}`") }
}

fn met_md(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

/// Markdown, built line by line (writing to a String cannot fail).
#[derive(Default)]
struct Md(String);

impl Md {
    fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }
    fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        let cells: Vec<String> = cells.iter().map(|c| cell(c.as_ref())).collect();
        self.line(format!("| {} |", cells.join(" | ")));
    }
}

/// `target/bench/report.md`; its images are `plots/…` beside it.
pub fn markdown(r: &Report) -> String {
    let mut md = Md::default();
    md.line("# ClipShot benchmark report");
    md.line("");
    let variant = if r.quick { "**quick run**: short variants, the figures are indicative only" } else { "full run" };
    md.line(format!("Created {} · {variant}.", r.created));
    md.line("");

    let m = &r.machine;
    md.line("## Machine");
    md.line("");
    md.line(format!("- CPU: {}, {} logical cores", m.cpu, m.logical_cores));
    md.line(format!("- Memory: {:.1} GiB", m.memory_gib));
    md.line(format!("- OS: {}, kernel {}", m.os, m.kernel));
    md.line(format!("- GStreamer: {}", m.gstreamer));
    md.line(format!("- GPU: {}", m.gpu));
    md.line("");

    md.line("## Headline");
    md.line("");
    md.line("| name | ours | peer | ratio | goal | met? |");
    md.line("|---|---:|---:|---:|---|:---:|");
    for h in headline_rows(r) {
        md.row(&[code(&h.name), h.ours, h.peer, h.ratio, h.goal, met_md(h.met).into()]);
    }
    md.line("");
    if !r.headline_missing.is_empty() {
        let names: Vec<String> = r.headline_missing.iter().map(|n| code(n)).collect();
        md.line(format!(
            "> **Missing headline figures:** {}: their programs were not run, failed, or did not report them.",
            names.join(", ")
        ));
        md.line("");
    }
    // What a ratio is when it is not ours over the peer's medians, and the
    // programs' notes: below the table, so its columns stay narrow.
    let headline: Vec<&Entry> = HEADLINES.iter().filter_map(|h| r.entries.iter().find(|e| e.name == *h)).collect();
    for e in &headline {
        let mut said = vec![e.title.clone()];
        said.extend(e.ratio_of.iter().map(|how| format!("ratio: {how}")));
        said.extend(e.notes.iter().cloned());
        md.line(format!("- {}: {}", code(&e.name), said.join("; ")));
    }
    if !headline.is_empty() {
        md.line("");
    }

    let is_headline = |e: &Entry| headline.iter().any(|h| std::ptr::eq(*h, e));
    let others: Vec<&Entry> = r.entries.iter().filter(|e| !is_headline(e) && e.bench != "micro").collect();
    if !others.is_empty() {
        md.line("## Other entries");
        let mut benches: Vec<&str> = others.iter().map(|e| e.bench.as_str()).collect();
        benches.dedup();
        for bench in benches {
            md.line("");
            md.line(format!("### {bench}"));
            md.line("");
            md.line("| name | what | ours | peer | ratio | goal | met? |");
            md.line("|---|---|---:|---:|---:|---|:---:|");
            for e in others.iter().filter(|e| e.bench == bench) {
                let row = row(e);
                md.row(&[code(&row.name), row.title, row.ours, row.peer, row.ratio, row.goal, met_md(row.met).into()]);
            }
        }
        md.line("");
    }

    let with_metrics: Vec<&Entry> = r.entries.iter().filter(|e| !e.metrics.is_empty()).collect();
    if !with_metrics.is_empty() {
        md.line("## Metrics");
        md.line("");
        for e in with_metrics {
            let metrics: Vec<String> = e.metrics.iter().map(|(k, v)| format!("{} = {}", code(k), num(*v))).collect();
            md.line(format!("- {}: {}", code(&e.name), metrics.join(" · ")));
        }
        md.line("");
    }

    if !r.series.is_empty() {
        md.line("## Scaling");
        for s in &r.series {
            md.line("");
            md.line(format!("### {}", s.title));
            md.line("");
            md.line(format!("![{}](plots/{})", s.title, plot::file_name(&s.name)));
            md.line("");
            md.line(format!("Fitted {} = slope · {} + intercept:", s.y_label, s.x_label));
            md.line("");
            md.line("| line | points | slope | intercept | r² |");
            md.line("|---|---:|---:|---:|---:|");
            for l in &s.lines {
                let (slope, intercept, r2) =
                    l.fit.map_or((f64::NAN, f64::NAN, f64::NAN), |f| (f.slope, f.intercept, f.r2));
                md.row(&[l.label.clone(), l.points.len().to_string(), num(slope), num(intercept), format!("{r2:.3}")]);
            }
        }
        md.line("");
    }

    if !r.distributions.is_empty() {
        md.line("## Distributions");
        for d in &r.distributions {
            md.line("");
            md.line(format!("### {}", d.title));
            md.line("");
            md.line(format!("![{}](plots/{})", d.title, plot::file_name(&d.name)));
            md.line("");
            let u = &d.unit;
            md.line(format!("| set | n | p50 ({u}) | p95 ({u}) | p99 ({u}) | max ({u}) |"));
            md.line("|---|---:|---:|---:|---:|---:|");
            for set in &d.sets {
                match set.summary {
                    Some(s) => {
                        md.row(&[set.label.clone(), s.n.to_string(), num(s.median), num(s.p95), num(s.p99), num(s.max)])
                    }
                    None => md.row(&[set.label.as_str(), "0", "–", "–", "–", "–"]),
                }
            }
        }
        md.line("");
    }

    let micro: Vec<&Entry> = r.entries.iter().filter(|e| !is_headline(e) && e.bench == "micro").collect();
    if !micro.is_empty() {
        md.line("## Micro-benchmarks");
        md.line("");
        md.line("| name | what | min | median | p95 | unit | n |");
        md.line("|---|---|---:|---:|---:|---|---:|");
        for e in micro {
            let s = &e.ours.summary;
            md.row(&[
                code(&e.name),
                e.title.clone(),
                num(s.min),
                num(s.median),
                num(s.p95),
                e.ours.unit.clone(),
                s.n.to_string(),
            ]);
        }
        md.line("");
    }

    let peers: Vec<&Entry> = r.entries.iter().filter(|e| e.peer.is_some()).collect();
    if !peers.is_empty() {
        md.line("## Peers");
        md.line("");
        for e in peers {
            if let Some(p) = &e.peer {
                md.line(format!("- {} ({}): {}", code(&e.name), p.label, code(&p.command)));
            }
        }
        md.line("");
    }

    md.line("## Parts");
    md.line("");
    md.line("| program | wall | variant | measured |");
    md.line("|---|---:|---|---|");
    for p in &r.parts {
        md.row(&[
            p.bench.clone(),
            format!("{:.1} s", p.wall_s),
            (if p.quick { "quick" } else { "full" }).into(),
            (if p.this_run { "this run" } else { "an earlier run" }).into(),
        ]);
    }
    md.0
}

/// The headline table as aligned plain text, for the terminal.
pub fn headline_text(r: &Report) -> String {
    let rows: Vec<[String; 6]> = headline_rows(r)
        .into_iter()
        .map(|h| {
            let met = match h.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            [h.name, h.ours, h.peer, h.ratio, met.into(), h.goal]
        })
        .collect();
    let header = ["name", "ours", "peer", "ratio", "met", "goal"].map(String::from);
    let mut widths = [0; 6];
    for r in std::iter::once(&header).chain(&rows) {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            // Names and goals read left to right; figures line up on the right.
            match i {
                0 | 5 => line.push_str(&format!("{c}{pad}")),
                _ => line.push_str(&format!("{pad}{c}")),
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `t` as RFC 3339 in UTC, to the second (no date crate for one line).
pub fn rfc3339_utc(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipshot_benches::report::{Goal, Side};
    use std::time::{Duration, UNIX_EPOCH};

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU".into(),
            logical_cores: 2,
            memory_gib: 7.5,
            os: "Debian GNU/Linux 13 (trixie)".into(),
            kernel: "6.1.0".into(),
            gstreamer: "gst-launch-1.0 version 1.26.2".into(),
            gpu: "none".into(),
        }
    }

    fn part(bench: &str, wall_s: f64) -> Part {
        let mut p = Part::new(bench);
        p.quick = false;
        p.wall_s = wall_s;
        p
    }

    fn write(dir: &Path, p: &Part) {
        std::fs::write(dir.join(format!("{}.json", p.bench)), serde_json::to_vec(p).unwrap()).unwrap();
    }

    fn names(g: &[Gathered]) -> Vec<(&str, f64, bool)> {
        g.iter().map(|g| (g.part.bench.as_str(), g.part.wall_s, g.this_run)).collect()
    }

    #[test]
    fn merging_keeps_earlier_parts_and_takes_rerun_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &part("record_path", 100.0));
        write(dir.path(), &part("micro", 5.0));
        std::fs::write(dir.path().join("notes.txt"), "not a part").unwrap();
        std::fs::write(dir.path().join("broken.json"), "{").unwrap();

        // Re-running micro alone: its stale part goes, its new one comes.
        crate::run::remove_part(dir.path(), "micro").unwrap();
        write(dir.path(), &part("micro", 6.0));
        let ran = vec!["micro".to_string()];
        let g = gather(dir.path(), &ran, true).unwrap();
        assert_eq!(names(&g), [("micro", 6.0, true), ("record_path", 100.0, false)]);

        // The whole suite: only what ran now.
        let g = gather(dir.path(), &ran, false).unwrap();
        assert_eq!(names(&g), [("micro", 6.0, true)]);

        let (report, _) = merge(gather(dir.path(), &ran, true).unwrap(), false, machine(), "t".into());
        let parts: Vec<(&str, bool)> = report.parts.iter().map(|p| (p.bench.as_str(), p.this_run)).collect();
        assert_eq!(parts, [("micro", true), ("record_path", false)]);
        assert_eq!(report.headline_missing.len(), HEADLINES.len());

        assert!(gather(&dir.path().join("none"), &ran, true).unwrap().is_empty());
    }

    #[test]
    fn renders_markdown() {
        let mut rp = part("record_path", 42.0);
        rp.add(
            Entry::compare(
                "save_vs_gst_remux",
                "Save 30 s of 720p60",
                Side::from_samples("clipshot", "POST /api/v1/replay/save", "ms", &[10.0, 12.0, 14.0]),
                Side::from_samples("gst remux", "gst-launch-1.0 filesrc ! qtdemux ! mp4mux", "ms", &[40.0]),
            )
            .goal(Goal::at_most(0.5, "≤ 0.5× the remux"))
            .metric("p99_ms", 14.0),
        );
        rp.add(Entry::single("ring_fill", "Ring fill | time", Side::from_samples("clipshot", "", "s", &[1.5])));
        rp.add_series(
            Series::new("save_scaling", "Save time", "clip (s)", "ms").line("clipshot", vec![(10.0, 5.0), (20.0, 9.0)]),
        );
        rp.add_distribution(
            "lat",
            "Latency",
            "ms",
            vec![("ours".into(), vec![1.0, 2.0, 3.0]), ("none".into(), vec![])],
        );
        let mut micro = part("micro", 3.0);
        micro.add(Entry::single(
            "ring_push",
            "Push one buffer",
            Side::from_samples("clipshot", "", "ns", &[80.0, 90.0]),
        ));
        let gathered = vec![Gathered { part: micro, this_run: true }, Gathered { part: rp, this_run: false }];
        let created = rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let (report, samples) = merge(gathered, false, machine(), created);
        assert_eq!(samples.len(), 1);
        assert!(report.headline_missing.contains(&"save_vs_cp_fsync".to_string()));
        assert!(!report.headline_missing.contains(&"save_vs_gst_remux".to_string()));

        let md = markdown(&report);
        assert!(md.starts_with("# ClipShot benchmark report\n"), "{md}");
        assert!(md.contains("Created 2023-11-14T22:13:20Z · full run."), "{md}");
        assert!(md.contains("- CPU: Test CPU, 2 logical cores"), "{md}");
        assert!(md.contains("| `save_vs_gst_remux` | 12.00 ms | 40.00 ms | 0.300× | ≤ 0.5× the remux | yes |"), "{md}");
        assert!(md.contains("| `save_vs_cp_fsync` | missing | – | – | – | – |"), "{md}");
        assert!(md.contains("**Missing headline figures:** `save_vs_cp_fsync`, `record_cpu_vs_gst_launch`"), "{md}");
        assert!(md.contains("### record_path\n\n| name | what |"), "{md}");
        assert!(md.contains("| `ring_fill` | Ring fill \\| time | 1.50 s | – | – | – | – |"), "{md}");
        assert!(md.contains("- `save_vs_gst_remux`: `p99_ms` = 14.00"), "{md}");
        assert!(md.contains("![Save time](plots/save_scaling.png)"), "{md}");
        assert!(md.contains("| clipshot | 2 | 0.400 | 1.00 | 1.000 |"), "{md}");
        assert!(md.contains("![Latency](plots/lat.png)"), "{md}");
        assert!(md.contains("| ours | 3 | 2.00 | 3.00 | 3.00 | 3.00 |"), "{md}");
        assert!(md.contains("| none | 0 | – | – | – | – |"), "{md}");
        assert!(md.contains("## Micro-benchmarks"), "{md}");
        assert!(md.contains("| `ring_push` | Push one buffer | 80.00 | 80.00 | 90.00 | ns | 2 |"), "{md}");
        assert!(md.contains("- `save_vs_gst_remux` (gst remux): `gst-launch-1.0 filesrc ! qtdemux ! mp4mux`"), "{md}");
        assert!(md.contains("| record_path | 42.0 s | full | an earlier run |"), "{md}");
        // Micro entries are in their own table only.
        assert!(!md.contains("### micro"), "{md}");

        let text = headline_text(&report);
        assert_eq!(text.lines().count(), HEADLINES.len() + 1);
        assert!(text.lines().nth(1).unwrap().starts_with("save_vs_gst_remux "), "{text}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["headline_missing"].as_array().unwrap().len(), HEADLINES.len() - 1);
    }

    #[test]
    fn formats_numbers_and_times() {
        assert_eq!(
            [num(0.0), num(0.00123), num(0.42), num(1.5), num(123.45), num(12345.6)],
            ["0", "0.00123", "0.420", "1.50", "123.5", "12346"]
        );
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    }
}
