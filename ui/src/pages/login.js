// @ts-check
// Shown when the browser has no session: the way in is `clipshot open`; the
// form takes the token pasted by hand (sent in a request body, never a URL).
import { login } from '../api.js';
import { h } from '../dom.js';

/** @param {HTMLElement} root @param {boolean} expired */
export function render(root, expired) {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'API token', required: true });
  const error = h('p', { class: 'field-error', role: 'alert' });
  const form = h('form', {
    class: 'card login',
    onsubmit: async (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      try {
        await login(input.value);
        input.value = '';
        location.hash = '#/pipelines';
      } catch (err) {
        error.textContent = err instanceof Error ? err.message : String(err);
      }
    },
  },
    h('h1', null, 'Sign in to ClipShot'),
    expired ? h('p', { class: 'warn' }, 'That link was used already or has expired.') : null,
    h('p', null, 'Run ', h('code', null, 'clipshot open'), ' on this computer: it opens the dashboard signed in.'),
    h('p', { class: 'muted' }, 'Or paste the token from the file ', h('code', null, 'api-token'), ' in the data folder:'),
    input,
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  root.replaceChildren(form);
  input.focus();
}
