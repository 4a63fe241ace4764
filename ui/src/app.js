// @ts-check
// The dashboard's entry: the session, the router (`#/page/arg`), and the
// event stream every page listens to.
import { logout, session, useSession } from './api.js';
import { h, replace } from './dom.js';
import * as login from './pages/login.js';
import * as pipelines from './pages/pipelines.js';
import * as clips from './pages/clips.js';
import * as player from './pages/player.js';
import * as replay from './pages/replay.js';
import * as models from './pages/models.js';
import * as plugins from './pages/plugins.js';
import * as settings from './pages/settings.js';

/**
 * A page draws itself into `root` and returns what stops its timers.
 * @typedef {(root: HTMLElement, arg: string | undefined, events: EventTarget) => (() => void) | void} Render
 */

/** @type {Record<string, Render>} */
const pages = {
  pipelines: pipelines.render,
  clips: clips.render,
  clip: player.render,
  replay: replay.render,
  models: models.render,
  plugins: plugins.render,
  settings: settings.render,
};

/** Engine events from the SSE stream, re-dispatched by type (`clip.saved`…). */
const events = new EventTarget();

const TYPES = [
  'clip.saved', 'clip.failed', 'marker.added', 'highlight.detected', 'task.progress',
  'pipeline.state', 'pipeline.error', 'pipeline.degraded', 'pipeline.recovered',
  'recording.started', 'recording.stopped', 'plugin.loaded', 'plugin.crashed', 'config.changed',
];

/** @type {EventSource | null} */
let stream = null;

function connect() {
  stream?.close();
  // Same origin: the session cookie goes along; no token in the URL.
  stream = new EventSource(`/api/v1/system/events?types=${TYPES.join(',')}`);
  const live = document.getElementById('live');
  stream.onopen = () => live && ((live.textContent = 'live'), live.classList.add('on'));
  // EventSource retries by itself, except after an answer such as 401.
  stream.onerror = () => {
    if (!live) return;
    live.classList.remove('on');
    live.textContent = stream?.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting';
    if (stream?.readyState === EventSource.CLOSED) session().then((s) => s || signedOut()).catch(() => {});
  };
  for (const type of TYPES) {
    stream.addEventListener(type, (e) => {
      const data = JSON.parse(/** @type {MessageEvent} */ (e).data);
      events.dispatchEvent(new CustomEvent(type, { detail: data }));
    });
  }
}

/** @type {(() => void) | void} */
let cleanup;
/** Counts navigations: a slow one that a newer one overtook draws nothing. */
let navigation = 0;

async function route() {
  const mine = ++navigation;
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  const [path, search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...rest] = path.split('/');
  const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
  if (name === 'login') {
    nav.hidden = true;
    stream?.close();
    stream = null;
    login.render(main, new URLSearchParams(search));
    return;
  }
  /** @type {SessionInfo | null} */
  let info;
  try {
    info = await session();
  } catch {
    replace(main, h('p', { class: 'bad' }, 'Cannot reach the ClipShot daemon. Is it running?'));
    return;
  }
  if (mine !== navigation) return;
  if (!info) {
    location.replace('#/login');
    return;
  }
  useSession(info);
  nav.hidden = false;
  if (!stream) connect();
  const page = pages[name] ? name : 'pipelines';
  const current = page === 'clip' ? 'clips' : page;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === current);
  replace(main);
  const root = h('section', { class: `page page-${page}` });
  main.append(root);
  let arg;
  try {
    arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  } catch {
    arg = undefined;
  }
  cleanup = pages[page](root, arg, events);
}

function signedOut() {
  stream?.close();
  stream = null;
  if (!location.hash.startsWith('#/login')) location.replace('#/login');
}

window.addEventListener('hashchange', route);
// A session that ends (the token changed, the cookie was cleared) sends the page to the login form.
window.addEventListener('clipshot:unauthorized', signedOut);
document.getElementById('sign-out')?.addEventListener('click', async () => {
  await logout();
  signedOut();
  location.replace('#/login?signed-out');
});
route();
