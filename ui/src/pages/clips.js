// @ts-check
// Clips: a grid of thumbnails with the API's filters and sort, infinite
// scroll over the cursor, and new clips arriving live.
import { del, get, patch, query } from '../api.js';
import { bytes, duration, h, replace, toast, when } from '../dom.js';

const SORTS = [
  ['-created_at', 'Newest'], ['created_at', 'Oldest'], ['-duration', 'Longest'],
  ['duration', 'Shortest'], ['-size', 'Largest'], ['size', 'Smallest'],
];
const TRIGGERS = ['hotkey', 'api', 'highlight', 'obs-websocket'];

/** @param {HTMLElement} root @param {string | undefined} _arg @param {EventTarget} events */
export function render(root, _arg, events) {
  const filters = {
    pipeline: h('select', { name: 'pipeline', 'aria-label': 'Pipeline' }, h('option', { value: '' }, 'All pipelines')),
    trigger: h('select', { name: 'trigger', 'aria-label': 'Trigger' }, h('option', { value: '' }, 'Any trigger'),
      TRIGGERS.map((t) => h('option', { value: t }, t))),
    favorite: h('input', { type: 'checkbox', name: 'favorite' }),
    min_score: h('input', { type: 'number', name: 'min_score', min: 0, max: 1, step: 0.05, placeholder: 'min score', 'aria-label': 'Minimum score' }),
    since: h('input', { type: 'date', name: 'since', 'aria-label': 'Saved since' }),
    sort: h('select', { name: 'sort', 'aria-label': 'Sort' }, SORTS.map(([v, text]) => h('option', { value: v }, text))),
  };
  const grid = h('div', { class: 'grid', 'data-testid': 'clip-grid' });
  const status = h('p', { class: 'muted' });
  const sentinel = h('div', { class: 'sentinel' });
  root.append(
    h('h1', null, 'Clips'),
    h('form', { class: 'filters', onchange: reload, onsubmit: (/** @type {Event} */ e) => e.preventDefault() },
      filters.pipeline, filters.trigger, filters.sort, filters.min_score, filters.since,
      h('label', null, filters.favorite, ' Favourites')),
    grid, status, sentinel,
  );

  /** @type {string | null | undefined} undefined: not loaded yet; null: no more pages */
  let cursor;
  let loading = false;
  let generation = 0;
  let stopped = false;

  function params() {
    return {
      pipeline: filters.pipeline.value,
      trigger: filters.trigger.value,
      favorite: filters.favorite.checked ? true : undefined,
      min_score: filters.min_score.value,
      since: filters.since.value ? new Date(`${filters.since.value}T00:00:00`).toISOString() : undefined,
      sort: filters.sort.value,
    };
  }

  async function more() {
    if (loading || cursor === null) return;
    loading = true;
    const mine = generation;
    status.className = 'muted';
    try {
      /** @type {ClipPage} */
      const page = await get(`/api/v1/clips${query({ ...params(), limit: 24, cursor })}`);
      if (mine !== generation) return;
      for (const clip of page.items) if (!grid.querySelector(`[data-clip="${CSS.escape(clip.id)}"]`)) grid.append(card(clip));
      cursor = page.next_cursor ?? null;
      status.textContent = grid.children.length ? (cursor ? '' : `${grid.children.length} clip(s)`) : 'No clips yet. Press the hotkey, or “Save clip” on a pipeline.';
    } catch (e) {
      status.textContent = `Cannot load clips: ${e instanceof Error ? e.message : e}`;
      status.className = 'bad';
    } finally {
      // A reload started meanwhile owns `loading` now.
      if (mine === generation) loading = false;
    }
    // A short first page leaves the sentinel in view: keep filling.
    if (mine === generation && cursor && sentinel.getBoundingClientRect().top < innerHeight) more();
  }

  function reload() {
    generation += 1;
    cursor = undefined;
    loading = false;
    replace(grid);
    more();
  }

  /** @param {Clip} clip */
  function card(clip) {
    const id = encodeURIComponent(clip.id);
    const title = h('span', { class: 'title' }, clip.title ?? when(clip.created_at));
    const star = h('button', { class: `star ${clip.favorite ? 'on' : ''}`, title: 'Favourite', 'aria-pressed': String(clip.favorite) }, '★');
    star.onclick = async () => {
      const updated = await patch(`/api/v1/clips/${id}`, { favorite: !clip.favorite }).catch(fail);
      if (updated) {
        clip = updated;
        star.classList.toggle('on', clip.favorite);
        star.setAttribute('aria-pressed', String(clip.favorite));
      }
    };
    const rename = h('button', { title: 'Rename', class: 'rename' }, '✎');
    rename.onclick = async () => {
      const name = prompt('Clip title', clip.title ?? '');
      if (name === null) return;
      const updated = await patch(`/api/v1/clips/${id}`, { title: name.trim() || null }).catch(fail);
      if (updated) title.textContent = (clip = updated).title ?? when(clip.created_at);
    };
    const tags = h('span', { class: 'tags' }, clip.tags.map((t) => h('span', { class: 'tag' }, t)));
    const tag = h('button', { title: 'Tags', class: 'tag-edit' }, '#');
    tag.onclick = async () => {
      const text = prompt('Tags, comma-separated', clip.tags.join(', '));
      if (text === null) return;
      const list = text.split(',').map((t) => t.trim()).filter(Boolean);
      const updated = await patch(`/api/v1/clips/${id}`, { tags: list }).catch(fail);
      if (updated) replace(tags, (clip = updated).tags.map((/** @type {string} */ t) => h('span', { class: 'tag' }, t)));
    };
    const remove = h('button', { title: 'Delete', class: 'delete', 'aria-label': 'Delete' }, '✕');
    remove.onclick = async () => {
      if (!confirm(`Delete “${clip.title ?? when(clip.created_at)}” and its file?`)) return;
      if ((await del(`/api/v1/clips/${id}`).then(() => true).catch(fail)) === true) el.remove();
    };
    const el = h('article', { class: 'clip', 'data-clip': clip.id },
      h('a', { class: 'thumb', href: `#/clip/${id}` },
        clip.missing ? h('div', { class: 'placeholder' }, 'file missing')
          : h('img', { src: `/api/v1/clips/${id}/thumbnail`, alt: '', loading: 'lazy' }),
        h('span', { class: 'duration' }, duration(clip.duration_s))),
      h('div', { class: 'meta' },
        h('div', { class: 'line' }, title, star),
        h('div', { class: 'line muted' },
          h('span', { class: 'trigger' }, clip.trigger),
          clip.score != null ? h('span', { class: 'score' }, `score ${clip.score.toFixed(2)}`) : null,
          h('span', null, bytes(clip.size_bytes)),
          h('time', { datetime: clip.created_at }, when(clip.created_at))),
        h('div', { class: 'line' }, tags, h('span', { class: 'actions' }, rename, tag, remove))),
    );
    return el;
  }

  /** @param {unknown} e */
  function fail(e) {
    toast(e instanceof Error ? e.message : String(e), 'error');
    return null;
  }

  // A saved clip shows up without a reload. The event comes as the file is
  // renamed into place; its row may land a moment later, so look a few times.
  // One look at a time: a burst of saves is caught by the look under way or the next.
  let looking = false;
  let again = false;
  /** @param {Event} e */
  const onSaved = async (e) => {
    if (looking) {
      again = true;
      return;
    }
    looking = true;
    try {
      await lookFor(/** @type {CustomEvent} */ (e).detail);
      while (again && !stopped) {
        again = false;
        await lookFor(null);
      }
    } finally {
      looking = false;
    }
  };
  /** @param {{ path: string, pipeline: string, trigger: string } | null} saved */
  const lookFor = async (saved) => {
    const newestFirst = filters.sort.value === '-created_at';
    for (let attempt = 0; attempt < 10 && newestFirst && !stopped; attempt++) {
      /** @type {ClipPage} */
      const page = await get(`/api/v1/clips${query({ ...params(), limit: 50 })}`).catch(() => ({ items: [], next_cursor: null }));
      const fresh = page.items.filter((c) => !grid.querySelector(`[data-clip="${CSS.escape(c.id)}"]`));
      for (const clip of fresh.reverse()) grid.prepend(card(clip));
      if (fresh.length && cursor === null) status.textContent = `${grid.children.length} clip(s)`;
      if (!saved || page.items.some((c) => c.path === saved.path) || !matches(saved)) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    if (!newestFirst) status.textContent = 'New clips saved: sort by newest to see them.';
  };
  /** Whether a saved clip passes the filters a row can be judged by. @param {{pipeline: string, trigger: string}} saved */
  const matches = (saved) => (!filters.pipeline.value || filters.pipeline.value === saved.pipeline)
    && (!filters.trigger.value || filters.trigger.value === saved.trigger)
    && !filters.favorite.checked && !filters.min_score.value;
  events.addEventListener('clip.saved', onSaved);

  const observer = new IntersectionObserver((entries) => { if (entries.some((x) => x.isIntersecting)) more(); }, { rootMargin: '400px' });
  observer.observe(sentinel);
  get('/api/v1/pipelines').then((/** @type {PipelineSummary[]} */ list) => {
    for (const p of list) filters.pipeline.append(h('option', { value: p.id }, p.name));
  }).catch(() => {});
  more();

  return () => {
    stopped = true;
    observer.disconnect();
    events.removeEventListener('clip.saved', onSaved);
  };
}
