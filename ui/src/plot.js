// @ts-check
// The timelines under the player: markers, and a highlight score over time.
// Plain SVG in a 1000-unit-wide box that scales with the page.
import { s } from './dom.js';

const W = 1000;

/**
 * Markers as flags along a clip; a click seeks there.
 * @param {number} durationS
 * @param {{ t: number, label: string | null }[]} markers
 * @param {(t: number) => void} seek
 */
export function markerTrack(durationS, markers, seek) {
  const x = (/** @type {number} */ t) => (Math.min(Math.max(t, 0), durationS) / (durationS || 1)) * W;
  const svg = s('svg', { class: 'track markers', viewBox: `0 0 ${W} 28`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `${markers.length} marker(s)` },
    s('rect', { x: 0, y: 12, width: W, height: 4, class: 'rail' }),
    markers.map((m) => s('g', { class: 'marker', 'data-t': m.t.toFixed(3), onclick: () => seek(m.t) },
      s('title', null, `${m.label ?? 'marker'} at ${m.t.toFixed(1)} s`),
      s('rect', { x: x(m.t) - 2, y: 0, width: 4, height: 28 }))),
    s('line', { class: 'playhead', x1: 0, x2: 0, y1: 0, y2: 28 }));
  svg.addEventListener('click', (e) => {
    if (/** @type {Element} */ (e.target).closest('.marker')) return;
    const box = svg.getBoundingClientRect();
    seek(((e.clientX - box.left) / box.width) * durationS);
  });
  return svg;
}

/**
 * The score over time: a line and its area, the threshold, and a dot where
 * detectors fired (hover names them).
 * @param {number} durationS
 * @param {ScorePoint[]} points
 * @param {number} [threshold]
 */
export function scorePlot(durationS, points, threshold) {
  const H = 120;
  const sorted = [...points].sort((a, b) => a.t_s - b.t_s);
  const max = Math.max(1, ...sorted.map((p) => p.score));
  const x = (/** @type {number} */ t) => (t / (durationS || 1)) * W;
  const y = (/** @type {number} */ v) => H - (v / max) * (H - 8);
  const line = sorted.map((p, i) => `${i ? 'L' : 'M'}${x(p.t_s).toFixed(1)},${y(p.score).toFixed(1)}`).join(' ');
  const area = sorted.length ? `${line} L${x(sorted[sorted.length - 1].t_s).toFixed(1)},${H} L${x(sorted[0].t_s).toFixed(1)},${H} Z` : '';
  return s('svg', { class: 'track score', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'Highlight score over time', 'data-testid': 'score-timeline' },
    s('path', { class: 'area', d: area }),
    s('path', { class: 'line', d: line }),
    threshold != null ? s('line', { class: 'threshold', x1: 0, x2: W, y1: y(threshold), y2: y(threshold) }) : null,
    sorted.filter((p) => p.detectors?.length).map((p) => s('circle', { class: 'fired', cx: x(p.t_s), cy: y(p.score), r: 5 },
      s('title', null, `${p.t_s.toFixed(1)} s: ${(p.detectors ?? []).join(', ')} (${p.score.toFixed(2)})`))),
    s('line', { class: 'playhead', x1: 0, x2: 0, y1: 0, y2: H }));
}

/** Moves the playheads of every track in `root`. @param {ParentNode} root @param {number} t @param {number} durationS */
export function movePlayheads(root, t, durationS) {
  const px = String((t / (durationS || 1)) * W);
  for (const line of root.querySelectorAll('.playhead')) {
    line.setAttribute('x1', px);
    line.setAttribute('x2', px);
  }
}
