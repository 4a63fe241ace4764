// @ts-check
// Settings: the live configuration as a form, typed and explained by the
// `Config` schema of the OpenAPI document. A save sends only what changed;
// every problem the API finds is shown beside its field.
import { ApiError, get, patch } from '../api.js';
import { h, replace, toast } from '../dom.js';

/**
 * One setting's JSON Schema, as utoipa writes it (`type` may list `null`).
 * @typedef {{ type?: string | string[], description?: string, items?: unknown }} FieldSchema
 */

/** @param {FieldSchema | undefined} schema @param {unknown} value */
function describe(schema, value) {
  const types = [schema?.type ?? typeof value].flat();
  const nullable = types.includes('null') || value == null;
  const base = types.find((t) => t !== 'null') ?? 'string';
  const kind = base === 'boolean' ? 'checkbox' : base === 'number' || base === 'integer' ? 'number' : base === 'array' ? 'list' : 'text';
  return { kind, nullable, integer: base === 'integer' };
}

/** @param {HTMLElement} root */
export function render(root) {
  const form = h('form', { class: 'settings card', novalidate: true });
  const banner = h('p', { class: 'muted' });
  root.append(h('h1', null, 'Settings'), banner, form);

  /** @type {Record<string, FieldSchema>} */
  let schema = {};
  /** @type {Record<string, unknown>} */
  let current = {};
  /** @type {Set<string>} */
  let readOnly = new Set();
  /** @type {Map<string, { input: HTMLInputElement, error: HTMLElement, read: () => unknown }>} */
  const fields = new Map();

  /** @param {ConfigView} view */
  function show(view) {
    current = view.config;
    readOnly = new Set(view.read_only);
    fields.clear();
    banner.textContent = `The API token is in ${view.token_path}. Greyed-out settings change only in clipshot.toml, the environment or flags.`;
    if (view.restart_required.length) banner.textContent += ` Restart the daemon to apply: ${view.restart_required.join(', ')}.`;
    const rows = Object.entries(current).map(([key, value]) => {
      const { kind, nullable, integer } = describe(schema[key], value);
      const secret = key.includes('password');
      const input = h('input', {
        name: key, id: `cfg-${key}`, disabled: readOnly.has(key),
        type: kind === 'checkbox' ? 'checkbox' : kind === 'number' ? 'number' : secret ? 'password' : 'text',
        step: kind === 'number' ? (integer ? '1' : 'any') : null,
        'aria-describedby': `cfg-${key}-help`,
      });
      if (kind === 'checkbox') input.checked = Boolean(value);
      else input.value = Array.isArray(value) ? value.join(', ') : value == null ? '' : String(value);
      if (value == null) input.placeholder = 'default';
      const read = () => {
        if (kind === 'checkbox') return input.checked;
        const text = input.value.trim();
        // Emptied: back to the default where there is one.
        if (text === '' && nullable) return null;
        if (kind === 'number') return text === '' ? text : Number(text);
        if (kind === 'list') return text.split(',').map((v) => v.trim()).filter(Boolean);
        return input.value;
      };
      const error = h('span', { class: 'field-error', id: `cfg-${key}-error`, role: 'alert' });
      fields.set(key, { input, error, read });
      return h('div', { class: 'field' },
        h('label', { for: `cfg-${key}` }, key), input, error,
        schema[key]?.description ? h('small', { class: 'help muted', id: `cfg-${key}-help` }, schema[key].description) : null);
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
      if (!readOnly.has(key) && JSON.stringify(next) !== JSON.stringify(current[key] ?? null)) changes[key] = next;
    }
    if (!Object.keys(changes).length) return toast('Nothing changed');
    try {
      show(await patch('/api/v1/config', changes));
      toast(`Saved ${Object.keys(changes).join(', ')}`);
    } catch (err) {
      if (!(err instanceof ApiError)) return toast(String(err), 'error');
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

  // The schema is public; without it the form still works, typed by the values.
  Promise.all([get('/openapi.json').catch(() => null), get('/api/v1/config')])
    .then(([doc, view]) => {
      schema = doc?.components?.schemas?.Config?.properties ?? {};
      show(view);
    })
    .catch((e) => replace(form, h('p', { class: 'bad' }, `Cannot load the settings: ${e.message}`)));
}
