//! The report's plots: each scaling series as a line chart with its fit, each
//! set of samples as a CDF.

use crate::report::num;
use anyhow::{Context, Result};
use clipshot_benches::report::{Distribution, Series, quantile};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Debian's fonts-dejavu-core. plotters' `ab_glyph` text has no system font
/// lookup: the font is registered by hand, once.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1100, 660);
/// Distinct on white (Tableau 10); lines past the eighth reuse them.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
/// More points than a 1100 px wide plot can show only slow the drawing.
const MAX_CDF_POINTS: usize = 4000;

/// Registers the font. Called before any benchmark runs, so a missing font
/// fails in a second, not after the suite.
pub fn init_font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| {
            format!(
                "the plots need the font {FONT} ({e}): install Debian's fonts-dejavu-core \
                 (`sudo apt-get install fonts-dejavu-core`, or `scripts/install-deps.sh --bench`)"
            )
        })?;
        // plotters keeps the font for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{FONT} is not a font plotters can read; reinstall fonts-dejavu-core"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// The file a series or distribution is drawn into (names come from the
/// programs: nothing in them may leave the plots directory).
pub fn file_name(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    format!("{safe}.png")
}

/// Draws every series and distribution into `dir`, replacing what an earlier
/// report left there.
pub fn plot_all(dir: &Path, series: &[Series], distributions: &[Distribution]) -> Result<Vec<PathBuf>> {
    init_font()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for old in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let old = old?.path();
        if old.extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(&old).with_context(|| format!("removing the old plot {}", old.display()))?;
        }
    }
    let mut written = Vec::new();
    for s in series {
        let path = dir.join(file_name(&s.name));
        plot_series(&path, s).with_context(|| format!("plotting the series {} into {}", s.name, path.display()))?;
        written.push(path);
    }
    for d in distributions {
        let path = dir.join(file_name(&d.name));
        plot_distribution(&path, d)
            .with_context(|| format!("plotting the distribution {} into {}", d.name, path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// An axis label: [`num`] without trailing zeros ("20", not "20.00").
fn tick(v: f64) -> String {
    let s = num(v);
    if s.contains('.') && !s.contains('e') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// `lo..hi` widened by a margin, and to a unit span where all values are equal.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let span = hi - lo;
    if span <= 0.0 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return lo - pad..hi + pad;
    }
    lo - span * 0.04..hi + span * 0.04
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

pub fn plot_series(path: &Path, s: &Series) -> Result<()> {
    let lines: Vec<Vec<(f64, f64)>> = s
        .lines
        .iter()
        .map(|l| l.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect())
        .collect();
    // The fit's ends count toward the range, so its dashes stay on the plot.
    let fit_ends = |i: usize| -> Option<[(f64, f64); 2]> {
        let f = s.lines[i].fit?;
        let (x0, x1) = min_max(lines[i].iter().map(|p| p.0));
        let ends = [(x0, f.slope * x0 + f.intercept), (x1, f.slope * x1 + f.intercept)];
        ends.iter().all(|(x, y)| x.is_finite() && y.is_finite()).then_some(ends)
    };
    let all: Vec<(f64, f64)> =
        (0..lines.len()).flat_map(|i| lines[i].iter().copied().chain(fit_ends(i).into_iter().flatten())).collect();
    let (x0, x1) = min_max(all.iter().map(|p| p.0));
    let (y0, y1) = min_max(all.iter().map(|p| p.1));
    // Costs start at zero: an axis from zero shows the intercept for what it is.
    let y0 = if y0 >= 0.0 { 0.0 } else { y0 };

    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&s.title, (FAMILY, 24))
        .margin(18)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(padded(x0, x1), padded(y0, y1))?;
    chart
        .configure_mesh()
        .x_desc(&s.x_label)
        .y_desc(&s.y_label)
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(RGBColor(238, 238, 238))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    for (i, (line, points)) in s.lines.iter().zip(&lines).enumerate() {
        let c = colour(i);
        let label = match line.fit {
            Some(f) => {
                let (sign, b) = if f.intercept < 0.0 { ('−', -f.intercept) } else { ('+', f.intercept) };
                format!("{}  (dashed fit: {}·x {sign} {}, r² {:.3})", line.label, num(f.slope), num(b), f.r2)
            }
            None => line.label.clone(),
        };
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], c.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        if let Some(ends) = fit_ends(i) {
            chart.draw_series(DashedLineSeries::new(ends, 9, 6, c.mix(0.5).stroke_width(2)))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font((FAMILY, 15))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The x axis of a CDF.
enum Axis {
    Linear(Range<f64>),
    /// With its ticks (1-2-5 in each decade) and light lines (1…9).
    Log(Range<f64>, Vec<f64>, Vec<f64>),
}

pub fn plot_distribution(path: &Path, d: &Distribution) -> Result<()> {
    let sets: Vec<(&str, Vec<f64>)> = d
        .sets
        .iter()
        .map(|(label, samples)| {
            let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
            s.sort_by(f64::total_cmp);
            (label.as_str(), s)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let (lo, hi) = min_max(sets.iter().flat_map(|(_, s)| s.iter().copied()));
    let p999 = sets.iter().map(|(_, s)| quantile(s, 0.999)).fold(f64::NEG_INFINITY, f64::max);
    // A long tail must not squash the body: over a decade or more of positive
    // values the axis is logarithmic (and still ends at the largest p99.9
    // past four decades); otherwise it is linear and ends at the largest p99.9.
    let (axis, end) = if sets.is_empty() {
        (Axis::Linear(0.0..1.0), hi)
    } else if lo > 0.0 && hi / lo >= 10.0 {
        let end = if hi / lo > 1e4 { p999 } else { hi };
        let (bold, light) = log_ticks(lo, end);
        (Axis::Log(lo / 1.1..end * 1.1, bold, light), end)
    } else {
        (Axis::Linear(padded(lo, p999)), p999)
    };
    let mut caption = format!("{}: CDF", d.title);
    if sets.is_empty() {
        caption.push_str(" (no samples)");
    }
    if matches!(axis, Axis::Log(..)) {
        caption.push_str(", log x");
    }
    if end < hi {
        caption.push_str(&format!(", x clipped at p99.9 = {} {}", tick(end), d.unit));
    }
    match axis {
        Axis::Linear(x) => draw_cdf(path, &caption, x, end, d, &sets),
        Axis::Log(x, bold, light) => {
            draw_cdf(path, &caption, x.log_scale().with_key_points(bold).with_light_points(light), end, d, &sets)
        }
    }
}

/// Ticks at 1, 2 and 5 times the powers of ten in `lo..=hi`, light lines at 1…9 times.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut bold, mut light) = (Vec::new(), Vec::new());
    for e in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in 1..=9 {
            let v = f64::from(m) * 10f64.powi(e);
            if (lo / 1.1..=hi * 1.1).contains(&v) {
                light.push(v);
                if matches!(m, 1 | 2 | 5) {
                    bold.push(v);
                }
            }
        }
    }
    (bold, light)
}

fn draw_cdf<X>(path: &Path, caption: &str, x: X, end: f64, d: &Distribution, sets: &[(&str, Vec<f64>)]) -> Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (FAMILY, 22))
        .margin(18)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} (per sample)", d.unit))
        .y_desc("fraction of samples ≤ x")
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(RGBColor(238, 238, 238))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    for (i, (label, s)) in sets.iter().enumerate() {
        let c = colour(i);
        let n = s.len();
        let step = n.div_ceil(MAX_CDF_POINTS).max(1);
        // From zero at the first sample; every `step`-th sample after it, and the last.
        let points: Vec<(f64, f64)> = std::iter::once((s[0], 0.0))
            .chain((0..n).filter(|k| k % step == 0 || *k == n - 1).map(|k| (s[k], (k + 1) as f64 / n as f64)))
            .take_while(|(v, _)| *v <= end)
            .collect();
        let legend = format!("{label}: p99 {} {} (n = {n})", num(quantile(s, 0.99)), d.unit);
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))?
            .label(legend)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], c.stroke_width(3)));
    }
    if !sets.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 15))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipshot_benches::report::Part;

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
        assert!(bytes.len() > 10_000, "{} is only {} bytes", path.display(), bytes.len());
    }

    #[test]
    fn draws_series_and_distributions() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = Part::new("synthetic");
        part.add_series(
            Series::new("save_scaling", "Save time against clip length", "clip length (s)", "save time (ms)")
                .line("clipshot", vec![(10.0, 12.0), (30.0, 31.0), (60.0, 63.0)])
                .line("gst-launch remux", vec![(10.0, 40.0), (30.0, 110.0), (60.0, 230.0)]),
        );
        // A body near 5 ms and a tail to 500 ms: the axis is clipped.
        let ours: Vec<f64> = (0..5000).map(|i| 4.0 + f64::from(i % 100) / 50.0).chain([500.0]).collect();
        let peer: Vec<f64> = (0..3000).map(|i| 6.0 + f64::from(i % 70) / 20.0).collect();
        part.add_distribution(
            "frame_latency",
            "Capture to ring",
            "ms",
            vec![("clipshot".into(), ours), ("gst-launch".into(), peer), ("empty".into(), vec![])],
        );
        // Within a decade: a linear axis, clipped at p99.9.
        let narrow: Vec<f64> = (0..2000).map(|i| 10.0 + f64::from(i % 50) / 25.0).chain([19.0, 19.5]).collect();
        part.add_distribution("save_ms", "Save", "ms", vec![("clipshot".into(), narrow)]);
        std::fs::write(dir.path().join("stale.png"), b"old").unwrap();
        let written = plot_all(dir.path(), &part.series, &part.distributions).unwrap();
        let names = ["save_scaling.png", "frame_latency.png", "save_ms.png"];
        assert_eq!(written, names.map(|n| dir.path().join(n)));
        written.iter().for_each(|p| assert_png(p));
        assert!(!dir.path().join("stale.png").exists());
    }

    #[test]
    fn log_ticks_are_1_2_5() {
        let (bold, light) = log_ticks(3.0, 400.0);
        assert_eq!(bold, [5.0, 10.0, 20.0, 50.0, 100.0, 200.0]);
        assert_eq!(light.len(), 20); // 3…9, 10…90, 100…400
        assert_eq!([tick(20.0), tick(0.5), tick(123.45)], ["20", "0.5", "123.5"]);
    }

    #[test]
    fn names_stay_in_the_directory() {
        assert_eq!(file_name("../a b/c"), "___a_b_c.png");
    }
}
