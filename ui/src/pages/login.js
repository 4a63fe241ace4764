// @ts-check
// Signing in. `clipshot open` sends the browser here with a one-time code in
// the address's fragment (never sent to a server, so never in a log); the
// page spends it with a POST and drops it from the address bar. Without a
// code, the form takes the token typed or pasted in (a request body).
import { login } from '../api.js';
import { h } from '../dom.js';

/** @param {HTMLElement} root @param {URLSearchParams} params */
export function render(root, params) {
  const code = params.get('code');
  if (code) {
    root.replaceChildren(h('p', { class: 'muted' }, 'Signing in…'));
    login({ code })
      .then(() => location.replace('#/pipelines'))
      .catch(() => location.replace('#/login?expired'));
    return;
  }
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'API token', required: true });
  const error = h('p', { class: 'field-error', role: 'alert' });
  const form = h('form', {
    class: 'card login',
    onsubmit: async (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      try {
        await login({ token: input.value });
        input.value = '';
        location.replace('#/pipelines');
      } catch (err) {
        error.textContent = err instanceof Error ? err.message : String(err);
      }
    },
  },
    h('h1', null, 'Sign in to ClipShot'),
    params.has('expired') ? h('p', { class: 'warn' }, 'That link was used already or has expired.') : null,
    params.has('signed-out') ? h('p', { class: 'muted' }, 'Signed out.') : null,
    h('p', null, 'Run ', h('code', null, 'clipshot open'), ' on this computer: it opens the dashboard signed in.'),
    h('p', { class: 'muted' }, 'Or paste the token from the file ', h('code', null, 'api-token'), ' in the data folder:'),
    input,
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  root.replaceChildren(form);
  input.focus();
}
