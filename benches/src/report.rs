//! What every benchmark program reports, in one shape: entries measured side
//! by side with their peer, series for the scaling plots and sample sets for
//! the latency distributions.
//!
//! Each program writes its [`Part`] to `target/bench/parts/<bench>.json`;
//! the runner (`clipshot-bench`) gathers the parts into one report.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A sample set's summary, in the unit of its [`Side`]. An empty set's
/// figures are NaN, which JSON writes as `null` and reads back as NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub median: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p95: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Summary {
    /// The summary of `samples` (NaNs left out); `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut s: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        Some(Self {
            n: s.len(),
            min: s[0],
            median: quantile(&s, 0.5),
            p95: quantile(&s, 0.95),
            p99: quantile(&s, 0.99),
            max: s[s.len() - 1],
        })
    }

    /// One measured value (a count, a ratio computed elsewhere).
    pub fn single(value: f64) -> Self {
        Self { n: 1, min: value, median: value, p95: value, p99: value, max: value }
    }
}

/// The `q` quantile of sorted samples, by nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One side of a comparison: what ran, and what it measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Side {
    /// Who this is, for a table column ("clipshot", "gst-launch-1.0 remux").
    pub label: String,
    /// What ran, as a reader could run it again.
    pub command: String,
    /// The unit of the summary ("ms", "cpu_ms_per_frame", "req_per_s").
    pub unit: String,
    pub summary: Summary,
}

impl Side {
    pub fn new(
        label: impl Into<String>,
        command: impl Into<String>,
        unit: impl Into<String>,
        summary: Summary,
    ) -> Self {
        Self { label: label.into(), command: command.into(), unit: unit.into(), summary }
    }

    /// A side from raw samples (none gives an all-NaN summary of n = 0).
    pub fn from_samples(label: &str, command: &str, unit: &str, samples: &[f64]) -> Self {
        let nan = f64::NAN;
        let summary =
            Summary::of(samples).unwrap_or(Summary { n: 0, min: nan, median: nan, p95: nan, p99: nan, max: nan });
        Self::new(label, command, unit, summary)
    }
}

/// What a ratio is judged against.
/// What an entry is judged by: bounds on its ratio and, where the goal's
/// words name more (a p99, record drops), bounds on its metrics; every
/// bound must hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Goal {
    /// The goal in words, as the issue states it.
    pub text: String,
    /// Bounds on the ratio.
    pub at_most: Option<f64>,
    pub at_least: Option<f64>,
    /// Bounds on named metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Bound>,
}

/// A bound on one of an entry's metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bound {
    pub metric: String,
    pub at_most: Option<f64>,
    pub at_least: Option<f64>,
}

fn within(value: f64, at_most: Option<f64>, at_least: Option<f64>) -> bool {
    !value.is_nan() && at_most.is_none_or(|m| value <= m) && at_least.is_none_or(|m| value >= m)
}

impl Goal {
    /// The ratio at most `ratio`.
    pub fn at_most(ratio: f64, text: impl Into<String>) -> Self {
        Self { text: text.into(), at_most: Some(ratio), at_least: None, metrics: Vec::new() }
    }
    /// The ratio at least `ratio`.
    pub fn at_least(ratio: f64, text: impl Into<String>) -> Self {
        Self { text: text.into(), at_most: None, at_least: Some(ratio), metrics: Vec::new() }
    }
    /// No bound on the ratio (add metric bounds).
    pub fn on_metrics(text: impl Into<String>) -> Self {
        Self { text: text.into(), at_most: None, at_least: None, metrics: Vec::new() }
    }
    /// Also: the metric `key` at most `value`.
    pub fn metric_at_most(mut self, key: &str, value: f64) -> Self {
        self.metrics.push(Bound { metric: key.into(), at_most: Some(value), at_least: None });
        self
    }
    /// Also: the metric `key` at least `value`.
    pub fn metric_at_least(mut self, key: &str, value: f64) -> Self {
        self.metrics.push(Bound { metric: key.into(), at_most: None, at_least: Some(value) });
        self
    }
    /// Whether a ratio meets the ratio's bounds.
    pub fn met(&self, ratio: f64) -> bool {
        within(ratio, self.at_most, self.at_least)
    }
    /// Whether an entry meets the goal: `None` when a bounded ratio was not
    /// measured; a bounded metric that is missing fails the goal.
    pub fn judge(&self, ratio: Option<f64>, metrics: &BTreeMap<String, f64>) -> Option<bool> {
        let ratio_met = if self.at_most.is_none() && self.at_least.is_none() { true } else { self.met(ratio?) };
        let metrics_met =
            self.metrics.iter().all(|b| metrics.get(&b.metric).is_some_and(|&v| within(v, b.at_most, b.at_least)));
        Some(ratio_met && metrics_met)
    }
}

/// One figure of the report: ours beside the peer's, from the same run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Stable, for tools reading the report (`save_vs_gst_remux`).
    pub name: String,
    /// The program that measured it (`record_path`).
    pub bench: String,
    /// One line for a reader.
    pub title: String,
    pub ours: Side,
    pub peer: Option<Side>,
    /// Ours over the peer's, medians (what `ratio_of` says otherwise).
    pub ratio: Option<f64>,
    /// How the ratio was formed, when not "ours / peer, medians".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_of: Option<String>,
    pub goal: Option<Goal>,
    /// Whether the goal was met (`None` without a goal or a ratio).
    pub goal_met: Option<bool>,
    /// Further named figures (`p50_ms`, `p99_ms`, `precision`, `record_drops`).
    pub metrics: BTreeMap<String, f64>,
    pub notes: Vec<String>,
}

impl Entry {
    /// An entry whose ratio is ours over the peer's medians.
    pub fn compare(name: &str, title: &str, ours: Side, peer: Side) -> Self {
        let ratio = ours.summary.median / peer.summary.median;
        let mut e = Self::single(name, title, ours);
        e.ratio = Some(ratio);
        e.peer = Some(peer);
        e
    }

    /// An entry with no peer (a micro-benchmark, an evaluation).
    pub fn single(name: &str, title: &str, ours: Side) -> Self {
        Self {
            name: name.into(),
            bench: String::new(),
            title: title.into(),
            ours,
            peer: None,
            ratio: None,
            ratio_of: None,
            goal: None,
            goal_met: None,
            metrics: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    /// Sets the ratio explicitly (throughput, where the peer's figure is the divisor of a rate).
    pub fn ratio(mut self, ratio: f64, how: &str) -> Self {
        self.ratio = Some(ratio);
        self.ratio_of = Some(how.into());
        self
    }

    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    /// A further figure. One that could not be measured (NaN, infinite) is
    /// left out: JSON has no NaN, and a missing figure must not pass for one.
    pub fn metric(mut self, key: &str, value: f64) -> Self {
        if value.is_finite() {
            self.metrics.insert(key.into(), value);
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// One line of a scaling plot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Least-squares fit y = slope·x + intercept (filled in by [`Part::write`]).
    pub fit: Option<Fit>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Fit {
    pub slope: f64,
    pub intercept: f64,
    pub r2: f64,
}

impl Fit {
    /// Ordinary least squares; `None` under two distinct x.
    pub fn of(points: &[(f64, f64)]) -> Option<Self> {
        let n = points.len() as f64;
        if points.len() < 2 {
            return None;
        }
        let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
        if sxx == 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        let r2 = if syy == 0.0 { 1.0 } else { sxy * sxy / (sxx * syy) };
        Some(Self { slope, intercept: my - slope * mx, r2 })
    }
}

/// How cost grows with work: one plot, one or more lines, each fitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
}

impl Series {
    pub fn new(name: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            lines: Vec::new(),
        }
    }

    /// A line; points that could not be measured are left out.
    pub fn line(mut self, label: &str, mut points: Vec<(f64, f64)>) -> Self {
        points.retain(|p| p.0.is_finite() && p.1.is_finite());
        self.lines.push(Line { label: label.into(), points, fit: None });
        self
    }
}

/// Per-sample values to plot as distributions (latency per frame).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Distribution {
    pub name: String,
    pub title: String,
    pub unit: String,
    /// Labelled sample sets drawn on one plot (ours, the peer's).
    pub sets: Vec<(String, Vec<f64>)>,
}

/// What one benchmark program measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub bench: String,
    pub quick: bool,
    pub wall_s: f64,
    pub entries: Vec<Entry>,
    pub series: Vec<Series>,
    pub distributions: Vec<Distribution>,
    #[serde(skip)]
    started: Option<std::time::Instant>,
}

impl Part {
    pub fn new(bench: &str) -> Self {
        Self {
            bench: bench.into(),
            quick: quick(),
            wall_s: 0.0,
            entries: Vec::new(),
            series: Vec::new(),
            distributions: Vec::new(),
            started: Some(std::time::Instant::now()),
        }
    }

    /// Adds an entry (stamped with this bench, its goal judged) and prints it.
    pub fn add(&mut self, mut entry: Entry) {
        entry.bench.clone_from(&self.bench);
        entry.goal_met = entry.goal.as_ref().and_then(|g| g.judge(entry.ratio, &entry.metrics));
        println!("{}", entry_line(&entry));
        self.entries.push(entry);
    }

    pub fn add_series(&mut self, mut series: Series) {
        for line in &mut series.lines {
            line.fit = Fit::of(&line.points);
        }
        self.series.push(series);
    }

    /// Sample sets to draw (samples that could not be measured left out).
    pub fn add_distribution(&mut self, name: &str, title: &str, unit: &str, mut sets: Vec<(String, Vec<f64>)>) {
        for (_, samples) in &mut sets {
            samples.retain(|v| v.is_finite());
        }
        self.distributions.push(Distribution { name: name.into(), title: title.into(), unit: unit.into(), sets });
    }

    /// Writes `target/bench/parts/<bench>.json`.
    pub fn write(mut self) -> PathBuf {
        self.wall_s = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let dir = out_dir().join("parts");
        std::fs::create_dir_all(&dir).expect("create target/bench/parts");
        let path = dir.join(format!("{}.json", self.bench));
        std::fs::write(&path, serde_json::to_vec_pretty(&self).expect("serialize")).expect("write the part");
        println!("wrote {}", path.display());
        path
    }
}

/// One entry as a line of text: `name  ours | peer  ratio (goal)`.
pub fn entry_line(e: &Entry) -> String {
    let side = |s: &Side| format!("{} {:.3} {}", s.label, s.summary.median, s.unit);
    let peer = e.peer.as_ref().map(|p| format!(" vs {}", side(p))).unwrap_or_default();
    let ratio = e.ratio.map(|r| format!("  ratio {r:.3}")).unwrap_or_default();
    let goal = match (&e.goal, e.goal_met) {
        (Some(g), Some(met)) => format!(" [{}: {}]", g.text, if met { "met" } else { "missed" }),
        _ => String::new(),
    };
    format!("{:<40} {}{peer}{ratio}{goal}", e.name, side(&e.ours))
}

/// Whether to run the short variant (`--quick` or `CLIPSHOT_BENCH_QUICK=1`).
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick") || std::env::var("CLIPSHOT_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Tells the runner what the program is doing now (shown beside its progress bar).
pub fn progress(message: impl std::fmt::Display) {
    println!("progress: {message}");
}

/// `target/bench` of this workspace (`CARGO_TARGET_DIR` honoured).
pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").join("target"));
    target.join("bench")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_nearest_rank() {
        let s = Summary::of(&(1..=100).map(f64::from).collect::<Vec<_>>()).unwrap();
        assert_eq!((s.n, s.min, s.median, s.p95, s.p99, s.max), (100, 1.0, 50.0, 95.0, 99.0, 100.0));
        assert!(Summary::of(&[]).is_none());
        assert_eq!(Summary::of(&[f64::NAN, 3.0]).unwrap().n, 1);
    }

    #[test]
    fn fit_recovers_a_line() {
        let f = Fit::of(&[(10.0, 21.0), (20.0, 41.0), (40.0, 81.0)]).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-9 && (f.intercept - 1.0).abs() < 1e-9 && (f.r2 - 1.0).abs() < 1e-9);
        assert!(Fit::of(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn goals_judge_ratios() {
        assert!(Goal::at_most(0.5, "").met(0.4));
        assert!(!Goal::at_most(0.5, "").met(0.6));
        assert!(Goal::at_least(0.5, "").met(0.6));
        assert!(!Goal::at_least(0.5, "").met(f64::NAN));
        let goal = Goal::at_least(0.5, "").metric_at_most("p99_ms", 10.0).metric_at_most("record_drops", 0.0);
        let metrics = |p99: f64, drops: f64| BTreeMap::from([("p99_ms".into(), p99), ("record_drops".into(), drops)]);
        assert_eq!(goal.judge(Some(0.6), &metrics(2.0, 0.0)), Some(true));
        assert_eq!(goal.judge(Some(0.6), &metrics(12.0, 0.0)), Some(false));
        assert_eq!(goal.judge(Some(0.6), &metrics(2.0, 1.0)), Some(false));
        assert_eq!(goal.judge(Some(0.4), &metrics(2.0, 0.0)), Some(false));
        assert_eq!(goal.judge(None, &metrics(2.0, 0.0)), None);
        assert_eq!(goal.judge(Some(0.6), &BTreeMap::new()), Some(false), "a missing figure fails");
        let only_metrics = Goal::on_metrics("").metric_at_least("fps", 8.0);
        assert_eq!(only_metrics.judge(None, &BTreeMap::from([("fps".into(), 9.0)])), Some(true));
        let e = Entry::compare(
            "x",
            "",
            Side::from_samples("a", "", "ms", &[2.0, 4.0, 6.0]),
            Side::from_samples("b", "", "ms", &[8.0]),
        );
        assert_eq!(e.ratio, Some(0.5));
    }

    #[test]
    fn an_empty_side_round_trips_through_json() {
        let side = Side::from_samples("a", "", "s", &[]);
        let back: Side = serde_json::from_str(&serde_json::to_string(&side).unwrap()).unwrap();
        assert_eq!(back.summary.n, 0);
        assert!(back.summary.median.is_nan());
    }
}
