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
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers[csrf.header] = csrf.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
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
  return r.ok ? r.json() : null;
}

/** The login form: the pasted token buys a cookie. @param {string} token */
export async function login(token) {
  const r = await fetch('/ui/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!r.ok) throw new ApiError(r.status, await r.json());
}

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
