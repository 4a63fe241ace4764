// @ts-check
// The replay ring's timeline: what can be saved right now, keyframes (where a
// clip can start) and markers. Drag across it to save exactly that span.
import { get, post } from '../api.js';
import { h, replace, s, toast } from '../dom.js';

const W = 1000;
const H = 80;

/** @param {HTMLElement} root @param {string | undefined} arg @param {EventTarget} events */
export function render(root, arg, events) {
  const head = h('div', { class: 'row' });
  const svg = /** @type {SVGSVGElement} */ (s('svg', { class: 'ring', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'data-testid': 'ring-timeline' }));
  const info = h('p', { class: 'muted' });
  const selection = h('p', { class: 'selection' }, 'Drag across the timeline to choose a span.');
  const saveButton = h('button', { class: 'primary', disabled: true }, 'Save selection');
  root.append(h('h1', null, 'Replay timeline'), head, svg, info, h('div', { class: 'row' }, selection, saveButton));

  /** @type {ReplayStatus | null} */
  let ring = null;
  /** @type {{ a: number, b: number } | null} in ns on the ring's timeline */
  let span = null;
  /** @type {number | null} */
  let dragFrom = null;
  let id = arg;

  // From the oldest packet the ring holds to now (which runs a little ahead
  // of the newest packet, by the encoder's latency).
  const start = () => ring?.stats.first_pts_ns ?? (ring?.now_ns ?? 0) - (ring?.stats.seconds ?? 0) * 1e9;
  const end = () => ring?.now_ns ?? 0;
  const x = (/** @type {number} */ ns) => ((ns - start()) / Math.max(1, end() - start())) * W;
  const ns = (/** @type {number} */ clientX) => {
    const box = svg.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return start() + f * (end() - start());
  };

  function draw() {
    if (!ring || ring.now_ns == null) {
      replace(svg);
      info.textContent = 'The ring is empty: is the pipeline running?';
      return;
    }
    const r = ring;
    info.textContent = `${r.stats.seconds.toFixed(1)} s of ${r.max_seconds} s kept · ${r.keyframes_ns.length} keyframes · ${r.markers.length} marker(s)`;
    replace(svg,
      s('rect', { class: 'fill', x: 0, y: 20, width: W, height: H - 40 }),
      r.keyframes_ns.map((k) => s('line', { class: 'keyframe', x1: x(k), x2: x(k), y1: 20, y2: H - 20 })),
      span ? s('rect', { class: 'chosen', x: x(Math.min(span.a, span.b)), y: 10, width: Math.abs(x(span.b) - x(span.a)), height: H - 20 }) : null,
      r.markers.map((m) => s('g', { class: 'marker' },
        s('title', null, m.label ?? 'marker'),
        s('line', { x1: x(m.at_ns), x2: x(m.at_ns), y1: 0, y2: H }),
        s('text', { x: x(m.at_ns) + 4, y: 12 }, m.label ?? ''))),
      s('text', { class: 'axis', x: 4, y: H - 4 }, `−${r.stats.seconds.toFixed(0)} s`),
      s('text', { class: 'axis end', x: W - 4, y: H - 4 }, 'now'),
    );
  }

  function describe() {
    if (!span || !ring) return;
    const a = Math.min(span.a, span.b);
    const b = Math.max(span.a, span.b);
    const now = ring.now_ns ?? b;
    selection.textContent = `From −${((now - a) / 1e9).toFixed(1)} s to −${((now - b) / 1e9).toFixed(1)} s: ${((b - a) / 1e9).toFixed(1)} s (it starts at the keyframe before)`;
    saveButton.disabled = b - a < 1e8;
  }

  svg.addEventListener('pointerdown', (e) => {
    if (!ring?.now_ns) return;
    svg.setPointerCapture(e.pointerId);
    dragFrom = ns(e.clientX);
    span = { a: dragFrom, b: dragFrom };
    draw();
  });
  svg.addEventListener('pointermove', (e) => {
    if (dragFrom == null || !span) return;
    span.b = ns(e.clientX);
    describe();
    draw();
  });
  svg.addEventListener('pointerup', () => { dragFrom = null; describe(); });
  svg.addEventListener('pointercancel', () => { dragFrom = null; clearSelection(); draw(); });

  function clearSelection() {
    span = null;
    selection.textContent = 'Drag across the timeline to choose a span.';
    saveButton.disabled = true;
  }

  saveButton.onclick = async () => {
    if (!span || !id) return;
    saveButton.disabled = true;
    try {
      /** @type {Clip} */
      const clip = await post(`/api/v1/pipelines/${encodeURIComponent(id)}/replay/save`, {
        start_ns: Math.round(Math.min(span.a, span.b)), end_ns: Math.round(Math.max(span.a, span.b)),
      });
      toast(`Saved ${clip.duration_s.toFixed(1)} s`, 'info', h('a', { href: `#/clip/${encodeURIComponent(clip.id)}` }, ' Play'));
      clearSelection();
      draw();
    } catch (e) {
      toast(`Save failed: ${e instanceof Error ? e.message : e}`, 'error');
    } finally {
      saveButton.disabled = !span;
    }
  };

  async function refresh() {
    if (!id) return;
    try {
      ring = await get(`/api/v1/pipelines/${encodeURIComponent(id)}/replay`);
      // Keep a choice that has scrolled out of the ring from pointing at nothing.
      if (span && Math.max(span.a, span.b) < start()) clearSelection();
      draw();
    } catch (e) {
      info.textContent = `No replay ring here: ${e instanceof Error ? e.message : e}`;
    }
  }

  get('/api/v1/pipelines').then((/** @type {PipelineSummary[]} */ list) => {
    id ??= (list.find((p) => p.default) ?? list[0])?.id;
    const pick = h('select', { 'aria-label': 'Pipeline', onchange: () => { location.hash = `#/replay/${encodeURIComponent(pick.value)}`; } },
      list.map((p) => h('option', { value: p.id, selected: p.id === id }, p.name)));
    const mark = h('button', { onclick: () => id && post(`/api/v1/pipelines/${encodeURIComponent(id)}/markers`).then(refresh).catch((e) => toast(e.message, 'error')) }, 'Add marker now');
    replace(head, pick, mark);
    refresh();
  }).catch((e) => { info.textContent = `Cannot list the pipelines: ${e.message}`; });
  const timer = setInterval(() => { if (dragFrom == null) refresh(); }, 1000);
  events.addEventListener('marker.added', refresh);
  return () => {
    clearInterval(timer);
    events.removeEventListener('marker.added', refresh);
  };
}
