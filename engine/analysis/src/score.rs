//! The scorer: detector outputs fused into one score over time, highlights
//! where it rises above the profile's threshold, and auto-clips around them
//! (overlapping ones merged, a cooldown between clips). Pure logic on
//! timestamps, so it is tested without any media.

use crate::profile::Profile;

const NS: f64 = 1e9;

/// What a detector saw, at a time on the pipeline's timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// `analyze.motion`: mean luma change and histogram change of a frame.
    Motion { pts_ns: i64, difference: f32, histogram_change: f32 },
    /// `analyze.audio`: loudness jump (0..1) and the best weighted class.
    Sound { pts_ns: i64, loudness: f32, events: f32, class: Option<String> },
    /// `analyze.text`: a keyword that just appeared on screen (its weight, 0..1).
    Text { pts_ns: i64, value: f32, keyword: Option<String> },
    /// `analyze.voice`: excited speech on the microphone (0..1).
    Voice { pts_ns: i64, value: f32 },
}

impl Observation {
    pub fn pts_ns(&self) -> i64 {
        match self {
            Observation::Motion { pts_ns, .. }
            | Observation::Sound { pts_ns, .. }
            | Observation::Text { pts_ns, .. }
            | Observation::Voice { pts_ns, .. } => *pts_ns,
        }
    }
}

/// A highlight: where the score was above the threshold, and its peak.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Highlight {
    pub start_ns: i64,
    pub peak_ns: i64,
    pub end_ns: i64,
    pub score: f32,
    /// The detector that contributed most at the peak (`motion`, `loud sound`, or an AudioSet class).
    pub label: String,
    /// Every detector above a third of its weight at the peak.
    pub detectors: Vec<String>,
}

/// What the scorer decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Highlight(Highlight),
    /// Save the span around highlights (trigger `highlight`).
    Clip {
        start_ns: i64,
        end_ns: i64,
        highlights: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Latest {
    pts_ns: i64,
    value: f32,
}

/// Points of the score kept for timelines (an hour at 10 a second).
const TIMELINE_CAP: usize = 36_000;

#[derive(Debug)]
struct Open {
    start_ns: i64,
    peak_ns: i64,
    peak: f32,
    label: String,
    detectors: Vec<String>,
    below_since: Option<i64>,
    last_above_ns: i64,
}

#[derive(Debug)]
struct PendingClip {
    start_ns: i64,
    end_ns: i64,
    highlights: usize,
}

/// Fuses observations; call [`Scorer::observe`] as they come, [`Scorer::flush`] at the end.
#[derive(Debug)]
pub struct Scorer {
    profile: Profile,
    motion: Option<Latest>,
    loudness: Option<Latest>,
    events: Option<Latest>,
    class: Option<String>,
    text: Option<Latest>,
    keyword: Option<String>,
    voice: Option<Latest>,
    open: Option<Open>,
    pending: Option<PendingClip>,
    last_clip_end_ns: Option<i64>,
    /// (pts, score) of every fused point, for timelines.
    pub timeline: Vec<(i64, f32)>,
}

/// A detector's value counts for this long after it was observed.
const STALE_NS: i64 = 2_500_000_000;

impl Scorer {
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            motion: None,
            loudness: None,
            events: None,
            class: None,
            text: None,
            keyword: None,
            voice: None,
            open: None,
            pending: None,
            last_clip_end_ns: None,
            timeline: Vec::new(),
        }
    }

    fn fresh(latest: Option<Latest>, now: i64) -> f32 {
        latest.filter(|l| (now - l.pts_ns).abs() <= STALE_NS).map_or(0.0, |l| l.value)
    }

    /// The fused score at `now` and the contributions by detector.
    fn fuse(&self, now: i64) -> (f32, Vec<(String, f32, f32)>) {
        let mut parts = Vec::new();
        if let Some(m) = &self.profile.motion {
            parts.push(("motion".to_owned(), m.weight * Self::fresh(self.motion, now), m.weight));
        }
        if let Some(l) = &self.profile.loudness {
            parts.push(("loud sound".to_owned(), l.weight * Self::fresh(self.loudness, now), l.weight));
        }
        if let Some(a) = &self.profile.audio {
            let class = self.class.clone().unwrap_or_else(|| "sound event".into());
            parts.push((class, a.weight * Self::fresh(self.events, now), a.weight));
        }
        if let Some(t) = &self.profile.text {
            let label = self.keyword.as_ref().map_or_else(|| "on-screen text".to_owned(), |k| format!("text: {k}"));
            parts.push((label, t.weight * Self::fresh(self.text, now), t.weight));
        }
        if let Some(v) = &self.profile.voice {
            parts.push(("excited voice".to_owned(), v.weight * Self::fresh(self.voice, now), v.weight));
        }
        (parts.iter().map(|p| p.1).sum(), parts)
    }

    pub fn observe(&mut self, observation: &Observation) -> Vec<Decision> {
        let now = match observation {
            Observation::Motion { pts_ns, difference, histogram_change } => {
                let value = match &self.profile.motion {
                    // A scene cut (a menu, a respawn screen) is not action.
                    Some(m) if *histogram_change >= m.cut => 0.0,
                    Some(m) => (difference / m.difference_full).clamp(0.0, 1.0),
                    None => 0.0,
                };
                self.motion = Some(Latest { pts_ns: *pts_ns, value });
                *pts_ns
            }
            Observation::Sound { pts_ns, loudness, events, class } => {
                self.loudness = Some(Latest { pts_ns: *pts_ns, value: loudness.clamp(0.0, 1.0) });
                self.events = Some(Latest { pts_ns: *pts_ns, value: events.clamp(0.0, 1.0) });
                self.class.clone_from(class);
                *pts_ns
            }
            Observation::Voice { pts_ns, value } => {
                self.voice = Some(Latest { pts_ns: *pts_ns, value: value.clamp(0.0, 1.0) });
                *pts_ns
            }
            Observation::Text { pts_ns, value, keyword } => {
                // A keyword counts from when it appeared; nothing new keeps the last one until it is stale.
                if *value > 0.0 || self.text.is_none_or(|t| (*pts_ns - t.pts_ns).abs() > STALE_NS) {
                    self.text = Some(Latest { pts_ns: *pts_ns, value: value.clamp(0.0, 1.0) });
                    self.keyword.clone_from(keyword);
                }
                *pts_ns
            }
        };
        let (score, parts) = self.fuse(now);
        if self.timeline.len() >= TIMELINE_CAP {
            self.timeline.drain(..TIMELINE_CAP / 2);
        }
        self.timeline.push((now, score));
        let mut decisions = Vec::new();
        let p = &self.profile;
        match &mut self.open {
            None if score >= p.threshold => {
                let (label, detectors) = Self::describe(&parts);
                self.open = Some(Open {
                    start_ns: now,
                    peak_ns: now,
                    peak: score,
                    label,
                    detectors,
                    below_since: None,
                    last_above_ns: now,
                });
            }
            None => {}
            Some(open) => {
                if score > open.peak {
                    open.peak = score;
                    open.peak_ns = now;
                    (open.label, open.detectors) = Self::describe(&parts);
                }
                if score >= p.threshold * p.release {
                    open.below_since = None;
                    open.last_above_ns = now;
                } else {
                    let since = *open.below_since.get_or_insert(now);
                    if (now - since) as f64 >= f64::from(p.hold_s) * NS {
                        let closed = self.open.take().expect("open");
                        decisions.extend(self.close(closed));
                    }
                }
            }
        }
        decisions.extend(self.due_clip(now));
        decisions
    }

    fn describe(parts: &[(String, f32, f32)]) -> (String, Vec<String>) {
        let label = parts.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|p| p.0.clone()).unwrap_or_default();
        let fired = parts.iter().filter(|p| p.2 > 0.0 && p.1 >= p.2 / 3.0).map(|p| p.0.clone()).collect();
        (label, fired)
    }

    fn close(&mut self, open: Open) -> Vec<Decision> {
        let highlight = Highlight {
            start_ns: open.start_ns,
            peak_ns: open.peak_ns,
            end_ns: open.last_above_ns,
            score: open.peak,
            label: open.label,
            detectors: open.detectors,
        };
        let pre = (f64::from(self.profile.pre_roll_s) * NS) as i64;
        let post = (f64::from(self.profile.post_roll_s) * NS) as i64;
        let (start, end) = (highlight.start_ns - pre, highlight.end_ns + post);
        let cooldown = (f64::from(self.profile.cooldown_s) * NS) as i64;
        match &mut self.pending {
            // Overlapping clips become one.
            Some(pending) if start <= pending.end_ns => {
                pending.end_ns = pending.end_ns.max(end);
                pending.highlights += 1;
            }
            _ => {
                let mut decisions = Vec::new();
                if let Some(done) = self.pending.take() {
                    decisions.push(self.emit(done));
                }
                let cooling = self.last_clip_end_ns.is_some_and(|last| highlight.start_ns < last + cooldown);
                if !cooling {
                    self.pending = Some(PendingClip { start_ns: start, end_ns: end, highlights: 1 });
                }
                decisions.insert(0, Decision::Highlight(highlight));
                return decisions;
            }
        }
        vec![Decision::Highlight(highlight)]
    }

    fn emit(&mut self, clip: PendingClip) -> Decision {
        self.last_clip_end_ns = Some(clip.end_ns);
        Decision::Clip { start_ns: clip.start_ns, end_ns: clip.end_ns, highlights: clip.highlights }
    }

    /// A pending clip whose post-roll has passed (the ring holds all of it).
    fn due_clip(&mut self, now: i64) -> Option<Decision> {
        let due = self.pending.as_ref().is_some_and(|p| now >= p.end_ns) && self.open.is_none();
        if due { self.pending.take().map(|p| self.emit(p)) } else { None }
    }

    /// The end: an open highlight closes, a pending clip is saved.
    pub fn flush(&mut self) -> Vec<Decision> {
        let mut decisions = Vec::new();
        if let Some(open) = self.open.take() {
            decisions.extend(self.close(open));
        }
        if let Some(p) = self.pending.take() {
            decisions.push(self.emit(p));
        }
        decisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        crate::profile::load("generic", &crate::profile::dirs(std::path::Path::new("/nonexistent"))).unwrap()
    }

    const S: i64 = 1_000_000_000;

    /// `seconds` of play: motion at 8 fps, sound every second, `loud(t)` deciding both.
    fn play(scorer: &mut Scorer, from_s: f64, to_s: f64, loud: impl Fn(f64) -> bool) -> Vec<Decision> {
        let mut out = Vec::new();
        let mut t = from_s;
        while t < to_s {
            let pts = (t * 1e9) as i64;
            let on = loud(t);
            out.extend(scorer.observe(&Observation::Motion {
                pts_ns: pts,
                difference: if on { 0.2 } else { 0.001 },
                histogram_change: 0.05,
            }));
            if ((t * 8.0).round() as i64) % 8 == 0 {
                out.extend(scorer.observe(&Observation::Sound {
                    pts_ns: pts,
                    loudness: if on { 1.0 } else { 0.0 },
                    events: if on { 0.4 } else { 0.0 },
                    class: Some("Explosion".into()),
                }));
            }
            t += 0.125;
        }
        out
    }

    fn highlights(d: &[Decision]) -> Vec<&Highlight> {
        d.iter().filter_map(|d| if let Decision::Highlight(h) = d { Some(h) } else { None }).collect()
    }

    fn clips(d: &[Decision]) -> Vec<(i64, i64, usize)> {
        d.iter()
            .filter_map(|d| {
                if let Decision::Clip { start_ns, end_ns, highlights } = d {
                    Some((*start_ns, *end_ns, *highlights))
                } else {
                    None
                }
            })
            .collect()
    }

    #[test]
    fn one_burst_is_one_highlight_and_one_clip_with_its_rolls() {
        let mut s = Scorer::new(profile());
        let mut d = play(&mut s, 0.0, 60.0, |t| (20.0..22.0).contains(&t));
        d.extend(s.flush());
        let h = highlights(&d);
        assert_eq!(h.len(), 1, "{d:?}");
        assert!(h[0].start_ns >= 20 * S && h[0].start_ns < 21 * S, "{:?}", h[0]);
        assert!(h[0].end_ns >= 21 * S && h[0].end_ns < 23 * S, "{:?}", h[0]);
        assert!(
            h[0].detectors.contains(&"motion".to_owned()) && h[0].detectors.contains(&"loud sound".to_owned()),
            "{:?}",
            h[0]
        );
        let c = clips(&d);
        assert_eq!(c.len(), 1, "{d:?}");
        assert_eq!(c[0].0, h[0].start_ns - 10 * S);
        assert_eq!(c[0].1, h[0].end_ns + 3 * S);
        // Saved once its post-roll had passed, during play, not at the flush.
        let mut s2 = Scorer::new(profile());
        let during = play(&mut s2, 0.0, 60.0, |t| (20.0..22.0).contains(&t));
        assert_eq!(clips(&during).len(), 1, "{during:?}");
        assert!(s.timeline.iter().any(|(_, v)| *v >= 0.5) && s.timeline.iter().filter(|(_, v)| *v > 0.1).count() < 40);
    }

    #[test]
    fn quiet_play_is_no_highlight_and_motion_alone_is_not_enough() {
        let mut s = Scorer::new(profile());
        let mut d = play(&mut s, 0.0, 30.0, |_| false);
        // Busy motion without sound (a menu, a camera pan): 0.4 < 0.5.
        for i in 0..80 {
            d.extend(s.observe(&Observation::Motion {
                pts_ns: 40 * S + i * S / 8,
                difference: 0.5,
                histogram_change: 0.1,
            }));
        }
        d.extend(s.flush());
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn close_highlights_merge_into_one_clip_and_the_cooldown_holds() {
        let mut s = Scorer::new(profile());
        // Two bursts 5 s apart: the second starts inside the first clip's post-roll? No — inside its span.
        let mut d = play(&mut s, 0.0, 40.0, |t| (10.0..11.5).contains(&t) || (14.0..15.5).contains(&t));
        d.extend(s.flush());
        assert_eq!(highlights(&d).len(), 2, "{d:?}");
        let c = clips(&d);
        assert_eq!(c.len(), 1, "{d:?}");
        assert_eq!(c[0].2, 2);
        // A third burst right after the clip ended falls in the cooldown: a highlight, no clip.
        let mut s = Scorer::new(profile());
        let mut d = play(&mut s, 0.0, 30.0, |t| (10.0..11.5).contains(&t) || (17.0..18.5).contains(&t));
        d.extend(s.flush());
        assert_eq!(highlights(&d).len(), 2, "{d:?}");
        assert_eq!(clips(&d).len(), 1, "{d:?}");
    }

    #[test]
    fn a_scene_cut_is_not_motion() {
        let mut s = Scorer::new(profile());
        let mut d = Vec::new();
        for i in 0..40 {
            let pts = 5 * S + i * S / 8;
            d.extend(s.observe(&Observation::Motion { pts_ns: pts, difference: 0.6, histogram_change: 0.95 }));
            d.extend(s.observe(&Observation::Sound { pts_ns: pts, loudness: 0.5, events: 0.0, class: None }));
        }
        d.extend(s.flush());
        assert!(d.is_empty(), "{d:?}");
    }
}
