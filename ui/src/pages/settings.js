// @ts-check
// Settings: the live configuration as a form. A save sends only what
// changed; every problem the API finds is shown beside its field.
import { ApiError, get, patch } from '../api.js';
import { h, replace, toast } from '../dom.js';

/** Not changeable over HTTP (the API says so too). */
const FIXED = new Set(['data_dir', 'host', 'port']);

/** @param {HTMLElement} root */
export function render(root) {
  const form = h('form', { class: 'settings card' });
  const banner = h('p', { class: 'muted' });
  root.append(h('h1', null, 'Settings'), banner, form);

  /** @type {Record<string, unknown>} */
  let current = {};
  /** @type {Map<string, { input: HTMLInputElement, error: HTMLElement, read: () => unknown }>} */
  const fields = new Map();

  /** @param {ConfigView} view */
  function show(view) {
    current = view.config;
    fields.clear();
    banner.textContent = `The API token is in ${view.token_path}.`;
    if (view.restart_required.length) banner.textContent += ` Restart the daemon to apply: ${view.restart_required.join(', ')}.`;
    const rows = Object.entries(current).map(([key, value]) => {
      const kind = typeof value === 'boolean' ? 'checkbox' : typeof value === 'number' ? 'number' : key.includes('password') ? 'password' : 'text';
      const input = h('input', { name: key, id: `cfg-${key}`, type: kind, disabled: FIXED.has(key), step: kind === 'number' ? 'any' : null });
      if (kind === 'checkbox') input.checked = Boolean(value);
      else input.value = Array.isArray(value) ? value.join(', ') : value == null ? '' : String(value);
      if (value == null) input.placeholder = 'default';
      const read = () => {
        if (kind === 'checkbox') return input.checked;
        if (kind === 'number') return input.value === '' ? null : Number(input.value);
        if (Array.isArray(value)) return input.value.split(',').map((v) => v.trim()).filter(Boolean);
        return input.value === '' && value == null ? null : input.value;
      };
      const error = h('span', { class: 'field-error', id: `cfg-${key}-error`, role: 'alert' });
      fields.set(key, { input, error, read });
      return h('div', { class: 'field' }, h('label', { for: `cfg-${key}` }, key), input, error);
    });
    replace(form, rows, h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save settings')));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {Record<string, unknown>} */
    const changes = {};
    for (const [key, f] of fields) {
      f.error.textContent = '';
      f.input.removeAttribute('aria-invalid');
      const next = f.read();
      if (!FIXED.has(key) && JSON.stringify(next) !== JSON.stringify(current[key])) changes[key] = next;
    }
    if (!Object.keys(changes).length) return toast('Nothing changed');
    try {
      show(await patch('/api/v1/config', changes));
      toast(`Saved ${Object.keys(changes).join(', ')}`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // `location` is a JSON Pointer: `/clip_seconds`, or `/cors_origins/0`.
      for (const p of err.problem.problems ?? []) {
        const f = fields.get(p.location.split('/')[1] ?? '');
        if (!f) continue;
        f.error.textContent = p.message;
        f.input.setAttribute('aria-invalid', 'true');
      }
      toast(err.message, 'error');
    }
  });

  get('/api/v1/config').then(show).catch((e) => replace(form, h('p', { class: 'bad' }, `Cannot load the settings: ${e.message}`)));
}
