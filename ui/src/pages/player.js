// @ts-check
// The player: the clip (seekable: the file route honours Range), its markers
// and, for a clip a highlight detector scored, the score over time.
import { del, get, patch } from '../api.js';
import { bytes, duration, h, replace, toast, when } from '../dom.js';
import { markerTrack, movePlayheads, scorePlot } from '../plot.js';

/** @param {HTMLElement} root @param {string | undefined} id */
export function render(root, id) {
  if (!id) {
    location.replace('#/clips');
    return;
  }
  const path = `/api/v1/clips/${encodeURIComponent(id)}`;
  root.append(h('p', { class: 'muted' }, 'Loading…'));
  Promise.all([get(path), get(`/api/v1/metadata/${encodeURIComponent(id)}`).catch(() => null)])
    .then(([clip, meta]) => show(root, clip, meta, path))
    .catch((e) => replace(root, h('p', { class: 'bad' }, `Cannot load the clip: ${e.message}`), h('a', { href: '#/clips' }, 'Back to clips')));
}

/** The score track's caption: the best highlight, when there is one. @param {HighlightSummary | null | undefined} best */
function highlightLabel(best) {
  if (!best) return 'Highlight score';
  const more = best.highlights > 1 ? `, ${best.highlights} highlights` : '';
  return `Highlight score: ${best.label} ${best.score.toFixed(2)} at ${best.peak_s.toFixed(1)} s${more}`;
}

/** @param {HTMLElement} root @param {Clip} clip @param {ClipMetadata | null} meta @param {string} path */
function show(root, clip, meta, path) {
  const video = h('video', { controls: true, preload: 'metadata', src: `${path}/file`, 'data-testid': 'player' });
  const length = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : clip.duration_s);
  const seek = (/** @type {number} */ t) => { video.currentTime = t; };
  const markers = (meta?.markers ?? []).map((m) => ({ t: (m.at_ns - clip.span_start_ns) / 1e9, label: m.label }));
  const tracks = h('div', { class: 'tracks' },
    h('div', { class: 'track-label' }, `Markers (${markers.length})`),
    markerTrack(clip.duration_s, markers, seek),
    // Hidden, not empty, when no detector scored this clip.
    meta?.score_timeline?.length
      ? [h('div', { class: 'track-label' }, highlightLabel(meta.highlight)), scorePlot(clip.duration_s, meta.score_timeline)]
      : null,
  );
  video.addEventListener('timeupdate', () => movePlayheads(tracks, video.currentTime, length()));

  /** @param {unknown} e */
  const fail = (e) => toast(e instanceof Error ? e.message : String(e), 'error');
  const title = h('input', { class: 'title-edit', value: clip.title ?? '', placeholder: when(clip.created_at), 'aria-label': 'Title' });
  title.addEventListener('change', async () => {
    try {
      clip = await patch(path, { title: title.value.trim() || null });
      toast('Renamed');
    } catch (e) {
      fail(e);
    }
  });
  const favorite = h('button', { class: `star ${clip.favorite ? 'on' : ''}`, 'aria-pressed': String(clip.favorite), title: 'Favourite' }, '★');
  favorite.onclick = async () => {
    try {
      clip = await patch(path, { favorite: !clip.favorite });
      favorite.classList.toggle('on', clip.favorite);
      favorite.setAttribute('aria-pressed', String(clip.favorite));
    } catch (e) {
      fail(e);
    }
  };
  const remove = h('button', { class: 'danger' }, 'Delete');
  remove.onclick = async () => {
    if (!confirm('Delete this clip and its file?')) return;
    try {
      await del(path);
      location.hash = '#/clips';
    } catch (e) {
      fail(e);
    }
  };
  const fileName = clip.path.split(/[\\/]/).pop() ?? 'clip.mp4';

  replace(root,
    h('p', null, h('a', { href: '#/clips' }, '← Clips')),
    h('div', { class: 'player-head' }, title, favorite),
    video,
    tracks,
    h('div', { class: 'row' },
      h('a', { class: 'button primary', href: `${path}/file`, download: fileName }, 'Download'),
      remove),
    h('dl', { class: 'numbers' },
      [['trigger', clip.trigger], ['saved', when(clip.created_at)], ['length', duration(clip.duration_s)],
        ['video', `${clip.video_codec}${clip.width ? ` ${clip.width}×${clip.height}` : ''}${clip.fps ? ` @ ${clip.fps.toFixed(0)} fps` : ''}`],
        ['audio', clip.audio_codec ?? 'none'], ['size', bytes(clip.size_bytes)], ['save took', `${clip.save_ms.toFixed(0)} ms`],
        ['score', clip.score != null ? clip.score.toFixed(2) : '—']]
        .map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v)))),
    clip.shortfall ? h('p', { class: 'warn' }, clip.shortfall) : null,
  );
}
