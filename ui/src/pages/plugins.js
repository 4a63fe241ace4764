// @ts-check
// Plugins: what is installed, whether it runs, why not, and its health;
// enable, disable, load, unload and reload. A refused load says why.
import { get, post } from '../api.js';
import { h, replace, toast } from '../dom.js';

/** @param {HTMLElement} root */
export function render(root) {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('h1', null, 'Plugins'), body);
  const lang = navigator.language.split('-')[0];

  /** @param {PluginInfo} p @param {string} action */
  async function act(p, action) {
    try {
      await post(`/api/v1/plugins/${encodeURIComponent(p.id)}/${action}`);
    } catch (e) {
      toast(e instanceof Error ? e.message : String(e), 'error');
    }
    await load();
  }

  /** @param {PluginInfo} p */
  function actions(p) {
    const buttons = [h('button', { onclick: () => act(p, p.enabled ? 'disable' : 'enable') }, p.enabled ? 'Disable' : 'Enable')];
    if (p.enabled) {
      buttons.push(h('button', { class: p.loaded ? '' : 'primary', onclick: () => act(p, p.loaded ? 'unload' : 'load') }, p.loaded ? 'Unload' : 'Load'));
      if (p.loaded) buttons.push(h('button', { onclick: () => act(p, 'reload') }, 'Reload'));
    }
    return buttons;
  }

  async function load() {
    /** @type {[PluginInfo[], ConfigView]} */
    const [list, config] = await Promise.all([get('/api/v1/plugins'), get('/api/v1/config')]);
    const dir = String(config.config.plugins_dir ?? `${config.config.data_dir}/plugins`);
    if (!list.length) {
      replace(body, h('p', { class: 'muted' }, 'No plugins installed. Install an archive made by ', h('code', null, 'clipshot plugins pack'),
        ' (', h('code', null, 'clipshot plugins install FILE'), '), or put a plugin folder with its ', h('code', null, 'manifest.json'), ' in ', h('code', null, dir), '.'));
      return;
    }
    replace(body, h('table', { class: 'table' },
      h('thead', null, h('tr', null, ['Plugin', 'Version', 'Type', 'Status', 'Nodes', 'Description', ''].map((t) => h('th', null, t)))),
      h('tbody', null, list.map((p) => h('tr', { 'data-plugin': p.id },
        h('td', null, h('strong', null, p.name), h('div', { class: 'muted' }, p.id)),
        h('td', null, p.version),
        h('td', null, [p.type, p.category].filter(Boolean).join(' · ')),
        h('td', null, h('span', { class: `badge state-${p.status}` }, p.status),
          h('div', { class: 'muted' }, `${p.enabled ? 'enabled' : 'disabled'}, ${p.isolation}`),
          p.error ? h('div', { class: 'field-error', 'data-testid': 'plugin-error' }, p.error.message) : null,
          p.disabled_reason ? h('div', { class: 'field-error' }, p.disabled_reason) : null),
        h('td', null, p.node_kinds.map((k) => h('div', null, h('code', null, k)))),
        h('td', null, p.description[lang] ?? p.description.en ?? Object.values(p.description)[0] ?? ''),
        h('td', null, actions(p)))))));
  }
  load().catch((e) => replace(body, h('p', { class: 'bad' }, `Cannot list plugins: ${e.message}`)));
}
