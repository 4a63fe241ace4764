// @ts-check
// The API, as the page calls it: same origin, the session cookie, and the
// CSRF token on anything that changes state. The token itself never reaches
// the page.

/** An answer that was not a success, with the problem the API described. */
export class ApiError extends Error {
  /** @param {number} status @param {Problem} problem */
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let csrf = { header: 'x-csrf-token', token: '' };

async function send(/** @type {string} */ method, /** @type {string} */ path, /** @type {unknown} */ body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers[csrf.header] = csrf.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** @param {SessionInfo} session */
export function useSession(session) {
  csrf = { header: session.csrf_header, token: session.csrf_token };
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function call(method, path, body) {
  let response = await send(method, path, body);
  // Signing in again (another tab, `clipshot open`) replaces the cookie and
  // with it the CSRF token: fetch the new one and try once more.
  if (response.status === 403 && method !== 'GET') {
    const fresh = await session().catch(() => null);
    if (fresh && fresh.csrf_token !== csrf.token) {
      useSession(fresh);
      response = await send(method, path, body);
    }
  }
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const problem = typeof data === 'object' && data ? data : { title: response.statusText, status: response.status, detail: String(data) };
    if (response.status === 401) window.dispatchEvent(new CustomEvent('clipshot:unauthorized'));
    throw new ApiError(response.status, problem);
  }
  return data;
}

/** @param {string} path */
export const get = (path) => call('GET', path);
/** @param {string} path @param {unknown} [body] */
export const post = (path, body) => call('POST', path, body ?? {});
/** @param {string} path @param {unknown} body */
export const patch = (path, body) => call('PATCH', path, body);
/** @param {string} path */
export const del = (path) => call('DELETE', path);

/** `GET /ui/session`: the CSRF token while the cookie is valid, null otherwise. @returns {Promise<SessionInfo | null>} */
export async function session() {
  const r = await fetch('/ui/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(`GET /ui/session: ${r.status}`);
  /** @type {SessionInfo} */
  const info = await r.json();
  return info.signed_in ? info : null;
}

/** Signs in with a one-time code or the typed token: the answer sets the cookie. @param {{ code: string } | { token: string }} proof */
export async function login(proof) {
  const r = await fetch('/ui/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(proof),
  });
  if (!r.ok) throw new ApiError(r.status, await r.json());
}

/** Signs this session out on the daemon (a copy of the cookie stops working too). */
export async function logout() {
  await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin' });
}

/** Query string of the defined values. @param {Record<string, string | number | boolean | null | undefined>} params */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}
