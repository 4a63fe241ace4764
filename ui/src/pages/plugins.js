// @ts-check
// Plugins found in the plugins folder, as the API lists them.
import { get } from '../api.js';
import { h, replace } from '../dom.js';

/** @param {HTMLElement} root */
export function render(root) {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('h1', null, 'Plugins'), body);
  Promise.all([get('/api/v1/plugins'), get('/api/v1/config')]).then(([plugins, view]) => {
    /** @type {PluginSummary[]} */
    const list = plugins;
    /** @type {ConfigView} */
    const config = view;
    const dir = String(config.config.plugins_dir ?? `${config.config.data_dir}/plugins`);
    if (!list.length) {
      replace(body, h('p', { class: 'muted' }, 'No plugins installed. A plugin is a folder with a ', h('code', null, 'manifest.json'), ' in ', h('code', null, dir), '.'));
      return;
    }
    const lang = navigator.language.split('-')[0];
    replace(body, h('table', { class: 'table' },
      h('thead', null, h('tr', null, ['Plugin', 'Version', 'Type', 'State', 'Description'].map((t) => h('th', null, t)))),
      h('tbody', null, list.map((p) => h('tr', { 'data-plugin': p.id },
        h('td', null, h('strong', null, p.name), h('div', { class: 'muted' }, p.id)),
        h('td', null, p.version),
        h('td', null, [p.type, p.category].filter(Boolean).join(' · ')),
        h('td', null, h('span', { class: `badge state-${p.state}` }, p.state), p.error ? h('div', { class: 'field-error' }, p.error) : null),
        h('td', null, p.description[lang] ?? p.description.en ?? Object.values(p.description)[0] ?? ''))))));
  }).catch((e) => replace(body, h('p', { class: 'bad' }, `Cannot list plugins: ${e.message}`)));
}
