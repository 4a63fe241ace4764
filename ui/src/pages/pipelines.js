// @ts-check
// Pipelines: state, live numbers, the preview, start/stop, "Save clip" and markers.
import { ApiError, get, post } from '../api.js';
import { bytes, duration, h, replace, toast } from '../dom.js';

/** Summed over a pipeline's nodes, for people: what it captures, encodes, keeps. @param {PipelineStats} stats */
export function summarize(stats) {
  const source = stats.nodes.find((n) => n.kind.startsWith('capture.')) ?? stats.nodes[0];
  const encoder = stats.nodes.find((n) => n.encoder)?.encoder ?? null;
  const ring = stats.nodes.find((n) => n.ring)?.ring ?? null;
  const dropped = stats.nodes.reduce((sum, n) => sum + n.dropped, 0);
  return { fps: source?.fps ?? 0, encoder, ring, dropped };
}

/** @param {HTMLElement} root @param {string | undefined} _arg @param {EventTarget} events */
export function render(root, _arg, events) {
  const list = h('div', { class: 'pipelines' });
  root.append(h('h1', null, 'Pipelines'), list);
  /** @type {Map<string, (stats: PipelineStats | null) => void>} */
  const updaters = new Map();
  let clipSeconds = 30;
  let stopped = false;

  async function load() {
    const [summaries, config] = await Promise.all([get('/api/v1/pipelines'), get('/api/v1/config').catch(() => null)]);
    if (config) clipSeconds = Number(config.config.clip_seconds) || clipSeconds;
    updaters.clear();
    replace(list, /** @type {PipelineSummary[]} */ (summaries).map((p) => card(p)));
    if (!summaries.length) list.append(h('p', { class: 'muted' }, 'No pipelines.'));
    await refresh();
  }

  // One refresh at a time: a slow daemon is never sent a queue of them.
  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      await Promise.all([...updaters].map(async ([id, update]) => {
        try {
          update(await get(`/api/v1/pipelines/${encodeURIComponent(id)}/stats`));
        } catch {
          update(null);
        }
      }));
    } finally {
      refreshing = false;
    }
  }

  /** @param {PipelineSummary} p */
  function card(p) {
    const id = encodeURIComponent(p.id);
    const state = h('span', { class: 'badge' }, p.state);
    const numbers = h('dl', { class: 'numbers' });
    const notes = h('ul', { class: 'notes' });
    const preview = h('img', { class: 'preview', alt: `Live preview of ${p.name}`, width: 480, height: 270 });
    const noPreview = h('div', { class: 'preview placeholder', hidden: true }, 'No preview');
    // The next frame loads only once the last has: a slow link never queues requests.
    let loading = false;
    preview.onload = () => { loading = false; preview.hidden = false; noPreview.hidden = true; };
    preview.onerror = () => { loading = false; preview.hidden = true; noPreview.hidden = false; };
    const nextFrame = () => {
      if (loading || document.hidden) return;
      loading = true;
      preview.src = `/api/v1/pipelines/${id}/preview?frame=${Date.now()}`;
    };

    const seconds = h('input', { type: 'number', min: 1, max: 3600, step: 1, value: String(clipSeconds), class: 'seconds', 'aria-label': 'Clip length in seconds' });
    const progress = h('progress', { hidden: true });
    const saveButton = h('button', { class: 'save primary big', onclick: save }, 'Save clip');
    async function save() {
      saveButton.disabled = true;
      progress.hidden = false;
      saveButton.textContent = 'Saving…';
      try {
        /** @type {Clip} */
        const clip = await post(`/api/v1/pipelines/${id}/replay/save`, { seconds: Number(seconds.value) });
        toast(`Saved ${duration(clip.duration_s)} in ${clip.save_ms.toFixed(0)} ms`, 'info',
          h('a', { href: `#/clip/${encodeURIComponent(clip.id)}` }, ' Play'));
        if (clip.shortfall) toast(clip.shortfall, 'error');
      } catch (e) {
        toast(`Save failed: ${e instanceof Error ? e.message : e}`, 'error');
      } finally {
        saveButton.disabled = false;
        progress.hidden = true;
        saveButton.textContent = 'Save clip';
      }
    }
    const label = h('input', { type: 'text', placeholder: 'Marker label', class: 'marker-label', 'aria-label': 'Marker label' });
    const markButton = h('button', {
      onclick: async () => {
        try {
          await post(`/api/v1/pipelines/${id}/markers`, label.value ? { label: label.value } : {});
          label.value = '';
        } catch (e) {
          toast(`Marker failed: ${e instanceof Error ? e.message : e}`, 'error');
        }
      },
    }, 'Add marker');
    const startStop = h('button', { class: 'start-stop' });
    startStop.onclick = async () => {
      const running = startStop.dataset.running === 'true';
      startStop.disabled = true;
      try {
        await post(`/api/v1/pipelines/${id}/${running ? 'stop' : 'start'}`);
        await refresh();
      } catch (e) {
        toast(e instanceof ApiError ? e.message : String(e), 'error');
      } finally {
        startStop.disabled = false;
      }
    };

    updaters.set(p.id, (stats) => {
      const st = stats?.state ?? 'unknown';
      state.textContent = stats && stats.degraded.length ? `${st}, degraded` : st;
      state.className = `badge state-${st}`;
      const running = st === 'running' || st === 'starting';
      startStop.dataset.running = String(running);
      startStop.textContent = running ? 'Stop' : 'Start';
      saveButton.disabled = saveButton.textContent !== 'Save clip' || st !== 'running';
      if (!stats) return;
      const { fps, encoder, ring, dropped } = summarize(stats);
      replace(numbers,
        h('div', null, h('dt', null, 'fps'), h('dd', { 'data-stat': 'fps' }, fps.toFixed(1))),
        h('div', null, h('dt', null, 'dropped'), h('dd', { 'data-stat': 'dropped', class: dropped ? 'bad' : '' }, dropped)),
        h('div', null, h('dt', null, 'encoder'), h('dd', { 'data-stat': 'encoder' }, encoder ?? '—')),
        h('div', null, h('dt', null, 'replay'), h('dd', { 'data-stat': 'ring' },
          ring ? `${ring.seconds.toFixed(1)} / ${ring.max_seconds} s · ${bytes(ring.bytes)}` : '—',
          ring ? h('meter', { min: 0, max: ring.max_seconds, value: ring.seconds }) : null)),
        h('div', null, h('dt', null, 'uptime'), h('dd', null, duration(stats.uptime_s))),
      );
      replace(notes,
        stats.message ? h('li', { class: 'bad' }, stats.message) : null,
        stats.degraded.map((d) => h('li', { class: 'warn' }, `${d.node}: ${d.reason} — ${d.instead}`)),
      );
      // Ask for a frame only once the preview has one (no 503s in the console).
      const previewNode = stats.nodes.find((n) => n.kind === 'video.preview');
      if (!previewNode) { preview.hidden = true; noPreview.hidden = false; }
      else if (running && previewNode.frames_in > 0) nextFrame();
    });

    return h('article', { class: 'card pipeline', 'data-pipeline': p.id },
      h('header', null,
        h('h2', null, p.name, p.default ? h('span', { class: 'tag' }, 'default') : null),
        state,
      ),
      p.description ? h('p', { class: 'muted' }, p.description) : null,
      h('div', { class: 'pipeline-body' },
        h('div', { class: 'preview-box' }, preview, noPreview),
        h('div', { class: 'controls' },
          h('div', { class: 'save-row' }, saveButton, h('label', null, seconds, ' s')),
          progress,
          h('div', { class: 'row' }, label, markButton),
          h('div', { class: 'row' }, startStop, h('a', { class: 'button', href: `#/replay/${id}` }, 'Replay timeline')),
          numbers,
          notes,
        ),
      ),
    );
  }

  const timer = setInterval(() => { if (!stopped) refresh(); }, 1000);
  /** A pipeline created elsewhere (the API, another tab) joins the page. @param {Event} e */
  const onState = (e) => {
    if (stopped) return;
    const id = /** @type {CustomEvent} */ (e).detail?.pipeline;
    if (id && !updaters.has(id)) load().catch(() => {});
    else refresh();
  };
  events.addEventListener('pipeline.state', onState);
  events.addEventListener('pipeline.degraded', onState);
  events.addEventListener('pipeline.recovered', onState);
  /** @param {Event} e */
  const onMarker = (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    toast(`Marker${d?.label ? ` “${d.label}”` : ''} added`);
  };
  events.addEventListener('marker.added', onMarker);
  load().catch((e) => replace(list, h('p', { class: 'bad' }, `Cannot load the pipelines: ${e.message}`)));

  return () => {
    stopped = true;
    clearInterval(timer);
    events.removeEventListener('pipeline.state', onState);
    events.removeEventListener('pipeline.degraded', onState);
    events.removeEventListener('pipeline.recovered', onState);
    events.removeEventListener('marker.added', onMarker);
  };
}
