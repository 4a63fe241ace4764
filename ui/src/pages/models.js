// @ts-check
// Models: what the daemon can run, on which execution provider, on which
// GPU; open and close their sessions. Problems with a model are listed beside it.
import { get, post } from '../api.js';
import { bytes, h, replace, toast } from '../dom.js';

/** @param {HTMLElement} root */
export function render(root) {
  const health = h('div', { class: 'numbers', 'data-testid': 'ai-health' });
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('h1', null, 'Models'), health, body);

  async function load() {
    /** @type {[AiHealth, ModelView[]]} */
    const [ai, models] = await Promise.all([get('/api/v1/ai/health'), get('/api/v1/ai/models')]);
    replace(health,
      h('div', null, h('dt', null, 'ONNX Runtime'), h('dd', { class: ai.runtime.available ? '' : 'bad' },
        ai.runtime.available ? `${ai.runtime.version}` : 'not available')),
      h('div', null, h('dt', null, 'GPU'), h('dd', { 'data-stat': 'adapter' },
        ai.gpu.available ? `${ai.gpu.adapter} (${ai.gpu.backend}, ${ai.gpu.device_type})` : `CPU path: ${ai.gpu.reason ?? ''}`)),
      h('div', null, h('dt', null, 'read back from the GPU'), h('dd', null, bytes(ai.gpu.bytes_read_back))),
      h('div', null, h('dt', null, 'providers tried'), h('dd', null, ai.execution_providers.join(' → '))),
    );
    if (!ai.runtime.available && ai.runtime.error) body.before(h('p', { class: 'warn' }, ai.runtime.error));
    replace(body, h('table', { class: 'table' },
      h('thead', null, h('tr', null, ['Model', 'Type', 'Status', 'Provider', 'Licence', ''].map((t) => h('th', null, t)))),
      h('tbody', null, models.map((m) => h('tr', { 'data-model': m.id },
        h('td', null, h('strong', null, m.name ?? m.id), h('div', { class: 'muted' }, `${m.id} ${m.version ?? ''}`),
          m.problems.map((p) => h('div', { class: 'field-error' }, p))),
        h('td', null, m.type ?? '—'),
        h('td', null, h('span', { class: `badge state-${m.status}` }, m.status)),
        h('td', null, m.provider ?? '—', m.load_ms != null ? h('div', { class: 'muted' }, `opened in ${m.load_ms.toFixed(0)} ms`) : null),
        h('td', null, m.licence ?? '—'),
        h('td', null, m.status === 'invalid' ? null : h('button', {
          class: m.status === 'loaded' ? '' : 'primary',
          onclick: async () => {
            try {
              await post(`/api/v1/ai/models/${encodeURIComponent(m.id)}/${m.status === 'loaded' ? 'unload' : 'load'}`);
              await load();
            } catch (e) {
              toast(e instanceof Error ? e.message : String(e), 'error');
            }
          },
        }, m.status === 'loaded' ? 'Unload' : 'Load')),
      )))));
  }
  load().catch((e) => replace(body, h('p', { class: 'bad' }, `Cannot list the models: ${e.message}`)));
}
