//! Game profiles: which detectors count, how much, and what a highlight and
//! its auto-clip are. TOML files in `profiles/` (shipped) and
//! `<data dir>/profiles` (yours; a file there overrides a shipped one).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Motion {
    pub weight: f32,
    /// A mean luma change per analysed frame this large counts as full motion.
    pub difference_full: f32,
    /// A histogram change above this is a scene cut, not action.
    pub cut: f32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loudness {
    pub weight: f32,
    /// Decibels above the running level that count as full loudness.
    pub jump_db_full: f32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audio {
    /// An `audio-tags` model.
    pub model: String,
    pub weight: f32,
    pub window_s: f32,
    pub hop_s: f32,
    /// AudioSet class name → weight.
    pub classes: BTreeMap<String, f32>,
}

/// What a keyword on screen means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GameEvent {
    Kill,
    MultiKill,
    Death,
    Win,
    Loss,
    Other,
}

impl GameEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            GameEvent::Kill => "kill",
            GameEvent::MultiKill => "multi-kill",
            GameEvent::Death => "death",
            GameEvent::Win => "win",
            GameEvent::Loss => "loss",
            GameEvent::Other => "other",
        }
    }
}

/// A screen region to read, as fractions of the frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: String,
    /// x, y, width, height as fractions of the frame (any resolution).
    pub rect: [f32; 4],
}

/// A word or phrase that means something when it appears in a region.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyword {
    pub text: String,
    pub event: GameEvent,
    /// How much it counts (0..1) when its event counts.
    #[serde(default = "one")]
    pub weight: f32,
    /// Only in these regions (by name); every region when empty.
    #[serde(default)]
    pub regions: Vec<String>,
}

fn one() -> f32 {
    1.0
}

fn counted_events() -> Vec<GameEvent> {
    vec![GameEvent::Kill, GameEvent::MultiKill, GameEvent::Win]
}

fn default_det() -> String {
    "ppocr-v4-det".into()
}

fn default_rec() -> String {
    "ppocr-v4-rec".into()
}

fn default_confidence() -> f32 {
    0.6
}

/// Reading the screen: regions, keywords, and which events make highlights.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub weight: f32,
    /// A `text-detect` model.
    #[serde(default = "default_det")]
    pub detect_model: String,
    /// A `text-recognise` model.
    #[serde(default = "default_rec")]
    pub recognise_model: String,
    /// Lines read with less confidence are ignored.
    #[serde(default = "default_confidence")]
    pub min_confidence: f32,
    pub regions: Vec<Region>,
    pub keywords: Vec<Keyword>,
    /// Events that make highlights; the others (deaths, say) are marked on
    /// the timeline as lowlights and never clipped.
    #[serde(default = "counted_events")]
    pub count: Vec<GameEvent>,
}

fn default_vad() -> String {
    "silero-vad".into()
}

fn half() -> f32 {
    0.5
}

fn twelve() -> f32 {
    12.0
}

/// Excited voice on the microphone (off unless a profile has it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voice {
    pub weight: f32,
    /// A `vad` model.
    #[serde(default = "default_vad")]
    pub model: String,
    /// Speech below this probability is not speech.
    #[serde(default = "half")]
    pub min_probability: f32,
    /// Decibels above the voice's running level that count as fully excited.
    #[serde(default = "twelve")]
    pub loud_db: f32,
}

/// A profile, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub threshold: f32,
    pub release: f32,
    pub hold_s: f32,
    pub pre_roll_s: f32,
    pub post_roll_s: f32,
    pub cooldown_s: f32,
    pub motion: Option<Motion>,
    pub loudness: Option<Loudness>,
    pub audio: Option<Audio>,
    pub text: Option<Text>,
    pub voice: Option<Voice>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile {}: {}", .source_name, .problems.join("; "))]
pub struct ProfileError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl Profile {
    /// Parses and checks a profile: every problem at once.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ProfileError> {
        let fail = |problems: Vec<String>| ProfileError { source_name: source_name.to_owned(), problems };
        let p: Profile = toml::from_str(text).map_err(|e| fail(vec![e.to_string().trim().to_owned()]))?;
        let mut problems = Vec::new();
        let mut unit = |name: &str, v: f32| {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("`{name}` must be between 0 and 1 (it is {v})"));
            }
        };
        unit("threshold", p.threshold);
        unit("release", p.release);
        if let Some(m) = &p.motion {
            unit("motion.weight", m.weight);
            unit("motion.cut", m.cut);
        }
        if let Some(l) = &p.loudness {
            unit("loudness.weight", l.weight);
        }
        if let Some(t) = &p.text {
            unit("text.weight", t.weight);
            unit("text.min_confidence", t.min_confidence);
            for k in &t.keywords {
                unit(&format!("text.keywords \"{}\" weight", k.text), k.weight);
            }
        }
        if let Some(v) = &p.voice {
            unit("voice.weight", v.weight);
            unit("voice.min_probability", v.min_probability);
        }
        if let Some(a) = &p.audio {
            unit("audio.weight", a.weight);
            for (class, w) in &a.classes {
                unit(&format!("audio.classes.\"{class}\""), *w);
            }
        }
        for (name, v) in [
            ("hold_s", p.hold_s),
            ("pre_roll_s", p.pre_roll_s),
            ("post_roll_s", p.post_roll_s),
            ("cooldown_s", p.cooldown_s),
        ] {
            if !(0.0..=600.0).contains(&v) {
                problems.push(format!("`{name}` must be between 0 and 600 seconds (it is {v})"));
            }
        }
        if let Some(m) = &p.motion
            && m.difference_full <= 0.0
        {
            problems.push("`motion.difference_full` must be more than 0".into());
        }
        if let Some(v) = &p.voice
            && v.loud_db <= 0.0
        {
            problems.push("`voice.loud_db` must be more than 0".into());
        }
        if let Some(l) = &p.loudness
            && l.jump_db_full <= 0.0
        {
            problems.push("`loudness.jump_db_full` must be more than 0".into());
        }
        if let Some(a) = &p.audio {
            if !(0.5..=10.0).contains(&a.window_s) || !(0.1..=a.window_s).contains(&a.hop_s) {
                problems.push("`audio.window_s` must be 0.5 to 10 s and `audio.hop_s` 0.1 s to the window".into());
            }
            if a.classes.is_empty() {
                problems.push("`audio.classes` names no class".into());
            }
        }
        if let Some(t) = &p.text {
            if t.regions.is_empty() {
                problems.push("`text.regions` names no region".into());
            }
            if t.keywords.is_empty() {
                problems.push("`text.keywords` names no keyword".into());
            }
            for r in &t.regions {
                let [x, y, w, h] = r.rect;
                let inside = [x, y, w, h].iter().all(|v| v.is_finite())
                    && x >= 0.0
                    && y >= 0.0
                    && w > 0.0
                    && h > 0.0
                    && x + w <= 1.0 + 1e-6
                    && y + h <= 1.0 + 1e-6;
                if !inside {
                    problems.push(format!(
                        "text region `{}` {:?} must lie inside the frame (x, y, width, height as fractions 0..1)",
                        r.name, r.rect
                    ));
                }
            }
            for k in &t.keywords {
                if clipshot_ai::ocr::normalise(&k.text).is_empty() {
                    problems.push(format!("keyword {:?} has no letters or digits", k.text));
                }
                for name in &k.regions {
                    if !t.regions.iter().any(|r| &r.name == name) {
                        problems.push(format!(
                            "keyword {:?} names region `{name}`, which is not in `text.regions`",
                            k.text
                        ));
                    }
                }
            }
        }
        let weights = p.motion.as_ref().map_or(0.0, |m| m.weight)
            + p.loudness.as_ref().map_or(0.0, |l| l.weight)
            + p.audio.as_ref().map_or(0.0, |a| a.weight)
            + p.text.as_ref().map_or(0.0, |t| t.weight)
            + p.voice.as_ref().map_or(0.0, |v| v.weight);
        if weights <= 0.0 {
            problems.push("no detector has any weight: set `motion`, `loudness`, `audio`, `text` or `voice`".into());
        } else if p.threshold > weights {
            problems.push(format!("`threshold` {} can never be reached: the weights add up to {weights}", p.threshold));
        }
        if problems.is_empty() { Ok(p) } else { Err(fail(problems)) }
    }

    /// Classes the audio model does not know, against its labels.
    pub fn unknown_classes(&self, labels: &[String]) -> Vec<String> {
        self.audio
            .as_ref()
            .map(|a| a.classes.keys().filter(|c| !labels.contains(c)).cloned().collect())
            .unwrap_or_default()
    }
}

/// Folders profiles are looked up in, first wins.
pub fn dirs(data_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![data_dir.join("profiles")];
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    if shipped.is_dir() {
        dirs.push(shipped);
    }
    dirs
}

/// The shipped `generic` profile, built in: it works wherever the binary is.
pub const GENERIC: &str = include_str!("../../../profiles/generic.toml");

/// The profile `name`: a file `<name>.toml` in `dirs` (a plain name, never a
/// path: a profile comes from the API too), else the built-in `generic`.
pub fn load(name: &str, dirs: &[PathBuf]) -> Result<Profile, ProfileError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return Err(ProfileError {
            source_name: name.to_owned(),
            problems: vec![
                "a profile is named by letters, digits, `-` and `_` (the file `<name>.toml` in a profiles folder)"
                    .into(),
            ],
        });
    }
    let candidates: Vec<PathBuf> = dirs.iter().map(|d| d.join(format!("{name}.toml"))).collect();
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Profile::parse(&text, &path.display().to_string());
        }
    }
    if name == "generic" {
        return Profile::parse(GENERIC, "generic (built in)");
    }
    Err(ProfileError {
        source_name: name.to_owned(),
        problems: vec![format!(
            "not found (looked in {})",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )],
    })
}

/// Profiles found in `dirs`, by name (first folder wins), with their problems.
pub fn list(dirs: &[PathBuf]) -> BTreeMap<String, Result<Profile, ProfileError>> {
    let mut found = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let Some(stem) =
                path.file_stem().and_then(|s| s.to_str()).filter(|_| path.extension().is_some_and(|x| x == "toml"))
            else {
                continue;
            };
            if !found.contains_key(stem) {
                let result = std::fs::read_to_string(&path)
                    .map_err(|e| ProfileError {
                        source_name: path.display().to_string(),
                        problems: vec![e.to_string()],
                    })
                    .and_then(|t| Profile::parse(&t, &path.display().to_string()));
                found.insert(stem.to_owned(), result);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_are_valid() {
        let dirs = dirs(Path::new("/nonexistent"));
        let all = list(&dirs);
        assert!(all.contains_key("generic"));
        for (name, p) in &all {
            let p = p.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&p.name, name);
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let text = r#"
            name = "bad"
            threshold = 1.5
            release = 0.8
            hold_s = -1
            pre_roll_s = 10
            post_roll_s = 3
            cooldown_s = 5
            [motion]
            weight = 0.2
            difference_full = 0
            cut = 0.9
            [audio]
            model = "ced-tiny"
            weight = 0.2
            window_s = 2
            hop_s = 5
            classes = {}
        "#;
        let e = Profile::parse(text, "bad.toml").unwrap_err();
        let all = e.problems.join("\n");
        for needle in [
            "`threshold` must be between 0 and 1",
            "`hold_s`",
            "difference_full",
            "hop_s",
            "names no class",
            "can never be reached",
        ] {
            assert!(all.contains(needle), "{needle} not in:\n{all}");
        }
        let e = Profile::parse("name = 3", "x.toml").unwrap_err();
        assert!(e.to_string().starts_with("profile x.toml:"), "{e}");
        let e = load("nope", &[PathBuf::from("/nonexistent")]).unwrap_err();
        assert!(e.to_string().contains("not found"), "{e}");
    }

    #[test]
    fn a_profile_is_a_name_not_a_path_and_generic_is_built_in() {
        for bad in ["../etc/passwd", "/etc/passwd", "a.toml", ""] {
            assert!(load(bad, &[]).unwrap_err().to_string().contains("named by letters"), "{bad}");
        }
        assert_eq!(load("generic", &[]).unwrap().name, "generic");
    }

    #[test]
    fn unknown_audio_classes_are_found() {
        let p = load("generic", &dirs(Path::new("/nonexistent"))).unwrap();
        let labels = vec!["Gunshot, gunfire".to_owned()];
        let unknown = p.unknown_classes(&labels);
        assert!(unknown.contains(&"Explosion".to_owned()) && !unknown.contains(&"Gunshot, gunfire".to_owned()));
    }
}
