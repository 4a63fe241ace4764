//! Reading text in a screen region (kill feeds, banners) with PP-OCR: the
//! detector finds text boxes in the region, the recogniser reads each box.
//!
//! Both inputs are made by the preprocessor (the GPU when there is one):
//! the region, then each box, cropped and resized straight from the captured
//! frame, so no full-frame copy is made on the CPU. Regions are fractions of
//! the frame, so a profile works at any resolution.
//!
//! Post-processing follows PaddleOCR's DB detector and CTC recogniser: the
//! probability map thresholded, connected components as boxes kept when
//! their mean probability is high enough and grown by the DB "unclip" ratio;
//! greedy CTC decoding where index 0 is the blank, `1..=n` are the model's
//! `character` list and `n + 1` is a space.

use crate::runtime::{InputTensor, LoadedModel, RuntimeError};
use clipshot_gpu::{Frame, GpuError, Layout, Preprocessor, Spec};

/// One line of text read in a region.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the characters read (0..1).
    pub confidence: f32,
    /// Where, as fractions of the frame: x, y, width, height.
    pub rect: [f32; 4],
}

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("preprocessing: {0}")]
    Preprocess(#[from] GpuError),
    #[error("{0}")]
    Shape(String),
}

/// Thresholds of the detector (PaddleOCR's defaults).
#[derive(Debug, Clone, Copy)]
pub struct DetectOptions {
    /// A pixel is text above this probability.
    pub pixel: f32,
    /// A box is kept when its mean probability is at least this.
    pub box_score: f32,
    /// How much a box grows (DB's unclip ratio).
    pub unclip: f32,
    /// The longer side of the region's detector input at most, in pixels (a multiple of 32).
    pub max_side: u32,
    /// The shorter side at least: a thin strip of small HUD text is
    /// enlarged until the detector sees letters, not specks.
    pub min_side: u32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self { pixel: 0.3, box_score: 0.5, unclip: 1.6, max_side: 2560, min_side: 224 }
    }
}

/// The recogniser's input height.
const REC_HEIGHT: u32 = 48;
/// Text components looked at per region at most (PaddleOCR's `max_candidates`),
/// and lines read: an image dense with glyphs costs a bounded time.
const MAX_CANDIDATES: usize = 1000;
const MAX_LINES: usize = 64;
/// Widest line read at once (longer lines are squeezed).
const REC_MAX_WIDTH: u32 = 960;

/// A detector and a recogniser, with the preprocessor that feeds them.
#[derive(Debug)]
pub struct TextReader<'a> {
    pub det: &'a LoadedModel,
    pub det_input: &'a str,
    pub rec: &'a LoadedModel,
    pub rec_input: &'a str,
    pub pre: &'a Preprocessor,
    pub options: DetectOptions,
}

impl TextReader<'_> {
    /// Every line of text in `region` (fractions of the frame), top to bottom.
    pub fn read(&self, frame: &Frame<'_>, region: [f32; 4]) -> Result<Vec<TextLine>, OcrError> {
        let mut lines = Vec::new();
        for rect in self.detect(frame, region)?.into_iter().take(MAX_LINES) {
            let (text, confidence) = self.recognise(frame, rect)?;
            if !text.trim().is_empty() {
                lines.push(TextLine { text, confidence, rect });
            }
        }
        Ok(lines)
    }

    /// Text boxes in `region`, as fractions of the frame, top to bottom.
    pub fn detect(&self, frame: &Frame<'_>, region: [f32; 4]) -> Result<Vec<[f32; 4]>, OcrError> {
        let (w, h) = detector_size(
            region[2] * frame.width as f32,
            region[3] * frame.height as f32,
            self.options.min_side,
            self.options.max_side,
        );
        let spec = Spec {
            region,
            width: w,
            height: h,
            layout: Layout::Nchw,
            bgr: true,
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        };
        let tensor = self.pre.preprocess(frame, &spec)?;
        let out = self.det.run(vec![InputTensor::F32 {
            name: self.det_input.to_owned(),
            shape: vec![1, 3, h as usize, w as usize],
            data: tensor,
        }])?;
        let map = out.into_iter().next().ok_or_else(|| OcrError::Shape("the detector gave no output".into()))?;
        let (mh, mw) = match map.shape.as_slice() {
            [1, 1, mh, mw] => (*mh, *mw),
            other => return Err(OcrError::Shape(format!("the detector's map is {other:?}, not [1, 1, H, W]"))),
        };
        let boxes = text_boxes(&map.data, mw, mh, &self.options);
        Ok(boxes
            .into_iter()
            .map(|[x0, y0, x1, y1]| {
                let fx = |x: f32| region[0] + region[2] * (x / mw as f32).clamp(0.0, 1.0);
                let fy = |y: f32| region[1] + region[3] * (y / mh as f32).clamp(0.0, 1.0);
                [fx(x0), fy(y0), fx(x1) - fx(x0), fy(y1) - fy(y0)]
            })
            .filter(|r| r[2] > 0.0 && r[3] > 0.0)
            .collect())
    }

    /// Reads one line in `rect` (fractions of the frame): its text and confidence.
    pub fn recognise(&self, frame: &Frame<'_>, rect: [f32; 4]) -> Result<(String, f32), OcrError> {
        let (pw, ph) = (rect[2] * frame.width as f32, rect[3] * frame.height as f32);
        let width = ((REC_HEIGHT as f32 * pw / ph.max(1.0)).ceil() as u32).clamp(16, REC_MAX_WIDTH);
        let spec = Spec {
            region: rect,
            width,
            height: REC_HEIGHT,
            layout: Layout::Nchw,
            bgr: true,
            scale: 1.0 / 255.0,
            mean: [0.5; 3],
            std: [0.5; 3],
        };
        let tensor = self.pre.preprocess(frame, &spec)?;
        let out = self.rec.run(vec![InputTensor::F32 {
            name: self.rec_input.to_owned(),
            shape: vec![1, 3, REC_HEIGHT as usize, width as usize],
            data: tensor,
        }])?;
        let probs = out.into_iter().next().ok_or_else(|| OcrError::Shape("the recogniser gave no output".into()))?;
        let (steps, classes) = match probs.shape.as_slice() {
            [1, t, c] => (*t, *c),
            other => return Err(OcrError::Shape(format!("the recogniser's output is {other:?}, not [1, T, C]"))),
        };
        Ok(ctc_decode(&probs.data, steps, classes, &self.rec.labels))
    }
}

/// The detector's input for a region of `w`×`h` pixels: enlarged (up to
/// 3×) until the shorter side is `min_side`, the longer side at most
/// `max_side`, both multiples of 32 (the network downsamples by 32).
pub fn detector_size(w: f32, h: f32, min_side: u32, max_side: u32) -> (u32, u32) {
    let (w, h) = (w.max(1.0), h.max(1.0));
    let up = (min_side as f32 / w.min(h)).clamp(1.0, 3.0);
    let scale = up.min(max_side as f32 / w.max(h));
    let round = |v: f32| (((v * scale) / 32.0).round() as u32).max(1) * 32;
    (round(w), round(h))
}

/// Boxes (x0, y0, x1, y1 in map pixels) of the text regions of a
/// probability map: 4-connected components above `pixel`, kept when their
/// mean probability reaches `box_score`, grown by DB's unclip distance
/// (area × ratio / perimeter), top to bottom then left to right.
pub fn text_boxes(map: &[f32], width: usize, height: usize, o: &DetectOptions) -> Vec<[f32; 4]> {
    let mut seen = vec![false; width * height];
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..width * height {
        if seen[start] || map[start] <= o.pixel {
            continue;
        }
        if boxes.len() == MAX_CANDIDATES {
            break;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let (mut sum, mut count) = (0.0f32, 0usize);
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            sum += map[i];
            count += 1;
            let mut visit = |j: usize| {
                if !seen[j] && map[j] > o.pixel {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < width {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - width);
            }
            if y + 1 < height {
                visit(i + width);
            }
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        // Specks are noise, not text.
        if bw.min(bh) < 3.0 || sum / (count as f32) < o.box_score {
            continue;
        }
        let grow = bw * bh * o.unclip / (2.0 * (bw + bh));
        boxes.push([
            (x0 as f32 - grow).max(0.0),
            (y0 as f32 - grow).max(0.0),
            ((x1 + 1) as f32 + grow).min(width as f32),
            ((y1 + 1) as f32 + grow).min(height as f32),
        ]);
    }
    merge_lines(boxes)
}

/// Joins boxes that are words of one line: mostly the same rows, and apart
/// by less than the line's height (the detector splits widely spaced pixel
/// fonts into words, and the recogniser reads a line best whole). Top to
/// bottom, then left to right.
fn merge_lines(mut boxes: Vec<[f32; 4]>) -> Vec<[f32; 4]> {
    let same_line = |a: &[f32; 4], b: &[f32; 4]| {
        let overlap = a[3].min(b[3]) - a[1].max(b[1]);
        let height = (a[3] - a[1]).min(b[3] - b[1]);
        let gap = b[0].max(a[0]) - a[2].min(b[2]);
        overlap > 0.6 * height && gap < (a[3] - a[1]).max(b[3] - b[1])
    };
    // Left to right, each box joins the first line it continues.
    boxes.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut lines: Vec<[f32; 4]> = Vec::new();
    for b in boxes {
        match lines.iter_mut().find(|l| same_line(l, &b)) {
            Some(l) => *l = [l[0].min(b[0]), l[1].min(b[1]), l[2].max(b[2]), l[3].max(b[3])],
            None => lines.push(b),
        }
    }
    lines.sort_by(|a, b| (a[1] / 4.0).floor().total_cmp(&(b[1] / 4.0).floor()).then(a[0].total_cmp(&b[0])));
    lines
}

/// Greedy CTC: the best class per step, repeats collapsed, blanks (0)
/// dropped; `1..=labels.len()` are `labels`, the one after them a space.
/// Returns the text and the mean probability of its characters.
pub fn ctc_decode(probs: &[f32], steps: usize, classes: usize, labels: &[String]) -> (String, f32) {
    if classes == 0 {
        return (String::new(), 0.0);
    }
    let mut text = String::new();
    let (mut sum, mut n) = (0.0f32, 0usize);
    let mut previous = 0usize;
    for step in probs.chunks_exact(classes).take(steps) {
        let (best, p) =
            step.iter().enumerate().fold((0usize, f32::MIN), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
        if best != 0 && best != previous {
            match labels.get(best - 1) {
                Some(c) => text.push_str(c),
                None => text.push(' '),
            }
            sum += p;
            n += 1;
        }
        previous = best;
    }
    (text, if n == 0 { 0.0 } else { sum / n as f32 })
}

/// Text for matching: upper case, letters and digits only, single spaces.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

/// Whether `keyword` appears in `text`, both through [`normalise`] and
/// with spaces ignored (OCR drops and adds them), forgiving one misread
/// character in every four (game fonts turn I into T, H into U, 0 into O):
/// the smallest edit distance between the keyword and any stretch of the
/// text (Sellers' approximate substring match).
pub fn contains_keyword(text: &str, keyword: &str) -> bool {
    let squeeze = |s: &str| normalise(s).chars().filter(|c| *c != ' ').collect::<Vec<char>>();
    let (text, keyword) = (squeeze(text), squeeze(keyword));
    if keyword.is_empty() {
        return false;
    }
    let allowed = keyword.len() / 4;
    // column[i]: the edits to match keyword[..i] ending at the current text position.
    let mut column: Vec<usize> = (0..=keyword.len()).collect();
    if column[keyword.len()] <= allowed {
        return true;
    }
    for t in &text {
        let mut diagonal = column[0];
        // A match may start anywhere in the text: row 0 stays 0.
        column[0] = 0;
        for (i, k) in keyword.iter().enumerate() {
            let substitute = diagonal + usize::from(k != t);
            diagonal = column[i + 1];
            column[i + 1] = substitute.min(column[i] + 1).min(column[i + 1] + 1);
        }
        if column[keyword.len()] <= allowed {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| (*s).to_owned()).collect();
        // steps: a a blank a b space
        let one_hot = |i: usize| {
            let mut v = vec![0.0; 4];
            v[i] = 0.9;
            v
        };
        let probs: Vec<f32> = [1, 1, 0, 1, 2, 3].iter().flat_map(|&i| one_hot(i)).collect();
        let (text, confidence) = ctc_decode(&probs, 6, 4, &labels);
        assert_eq!(text, "aab ");
        assert!((confidence - 0.9).abs() < 1e-6);
    }

    #[test]
    fn components_become_grown_boxes_in_reading_order() {
        let (w, h) = (60, 20);
        let blob = |map: &mut [f32], xs: std::ops::Range<usize>, v: f32| {
            for y in 5..10 {
                for x in xs.clone() {
                    map[y * w + x] = v;
                }
            }
        };
        // Two words far apart on one line, and a speck.
        let mut map = vec![0.0f32; w * h];
        blob(&mut map, 2..15, 0.8);
        blob(&mut map, 40..53, 0.9);
        map[18 * w + 1] = 0.9;
        let boxes = text_boxes(&map, w, h, &DetectOptions::default());
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        assert!(boxes[0][0] < 2.0 && boxes[1][0] < 40.0 && boxes[1][0] > 30.0, "{boxes:?}");
        assert!(boxes[0][1] < 5.0 && boxes[0][3] > 10.0, "grown: {boxes:?}");
        // Words a letter's width apart are one line.
        let mut line = vec![0.0f32; w * h];
        blob(&mut line, 2..15, 0.8);
        blob(&mut line, 19..32, 0.9);
        let merged = text_boxes(&line, w, h, &DetectOptions::default());
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert!(merged[0][0] < 2.0 && merged[0][2] > 32.0, "{merged:?}");
        // A faint blob is not a box.
        let faint: Vec<f32> = map.iter().map(|v| v * 0.5).collect();
        assert!(text_boxes(&faint, w, h, &DetectOptions::default()).is_empty());
    }

    #[test]
    fn detector_sizes_are_multiples_of_32_and_bounded() {
        assert_eq!(detector_size(480.0, 224.0, 224, 2560), (480, 224));
        let (w, h) = detector_size(3840.0, 600.0, 224, 2560);
        assert!(w == 2560 && h % 32 == 0 && h >= 384, "{w}×{h}");
        // A thin strip of small text is enlarged (3× at most), within the bounds.
        assert_eq!(detector_size(768.0, 72.0, 224, 2560), (2304, 224));
        assert_eq!(detector_size(1280.0, 100.0, 224, 2560), (2560, 192));
        assert_eq!(detector_size(5.0, 5.0, 224, 2560), (32, 32));
    }

    #[test]
    fn keywords_match_through_case_punctuation_and_misreads() {
        assert!(contains_keyword("Player1 ▸ eliminated ▸ Bot_7", "ELIMINATED"));
        assert!(contains_keyword("PLAYER ELlMINATED BOT", "eliminated"));
        assert!(contains_keyword("YOU FRAGGED Bot", "you fragged"));
        // Doom's font through PP-OCR: "was killed by ClipShot's handgun".
        assert!(contains_keyword("RIPLEY HOS KILLEO GY CLIPSHOTE UAHOGMN", "ClipShot's"));
        assert!(contains_keyword("SLEO GYCLIPSUOTE DOHOGMN", "ClipShot's"));
        assert!(!contains_keyword("PLISSKEN WAS PERFORATED BY T800S SHOTGUN", "ClipShot's"));
        assert!(!contains_keyword("PLAYER JOINED", "ELIMINATED"));
        assert!(!contains_keyword("WIN", "WINNER WINNER"));
        assert!(!contains_keyword("anything", ""));
        assert!(!contains_keyword("KILL", "WIN"), "short keywords must match exactly");
        assert!(contains_keyword("a WIN!", "WIN"));
        assert_eq!(normalise("  Head-shot!! x2 "), "HEAD SHOT X2");
    }
}
