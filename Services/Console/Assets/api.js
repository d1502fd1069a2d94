// The platform's public API through the gateway (same origin: no CORS), with the session's
// tokens. Tokens live in this module's memory only: nothing is written to storage a script
// injected elsewhere could read, and a reload asks to sign in again.

/** An answer other than 2xx, from its problem+json body (RFC 9457). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || '';
    this.errors = problem.errors || [];
  }
}

const session = { access: null, refresh: null, claims: null, refreshTimer: null, refreshing: null, tenant: '' };
const listeners = new Set();

/** Called with no argument whenever the session starts, ends or switches tenant. */
export function onSessionChange(listener) { listeners.add(listener); }
function changed() { for (const listener of listeners) listener(); }

export function signedIn() { return session.access !== null; }
/** The token's claims: sub, tid (tenant), roles. */
export function claims() { return session.claims || { roles: [] }; }
export function hasRole(...roles) { return claims().roles.some((role) => roles.includes(role) || role === 'platform-admin'); }
/** The tenant the views are narrowed to ('' for everything the caller sees). */
export function currentTenant() { return session.tenant; }
export function setTenant(id) { session.tenant = id || ''; changed(); }

function decodeClaims(token) {
  const part = token.split('.')[1] || '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

async function tokenRequest(body) {
  const response = await fetch('/api/v1/auth/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body), credentials: 'omit',
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

function adopt(tokens) {
  session.access = tokens.access_token;
  session.refresh = tokens.refresh_token;
  session.claims = decodeClaims(tokens.access_token);
  clearTimeout(session.refreshTimer);
  // Refreshed a minute before it expires (or at 80% of a short lifetime).
  const lifetime = Math.max(Number(tokens.expires_in) || 60, 10);
  const delay = Math.max(5, Math.min(lifetime - 60, lifetime * 0.8)) * 1000;
  session.refreshTimer = setTimeout(() => { refresh().catch(() => signOut()); }, delay);
}

/** Signs in with the password grant. */
export async function signIn(username, password) {
  adopt(await tokenRequest({ grant_type: 'password', username, password }));
  session.tenant = '';
  changed();
}

/** Exchanges the refresh token for new tokens; concurrent callers share one exchange. */
export function refresh() {
  if (!session.refresh) return Promise.reject(new ApiError(401, { title: 'Signed out' }));
  if (!session.refreshing) {
    session.refreshing = tokenRequest({ grant_type: 'refresh_token', refresh_token: session.refresh })
      .then(adopt)
      .finally(() => { session.refreshing = null; });
  }
  return session.refreshing;
}

export function signOut() {
  clearTimeout(session.refreshTimer);
  Object.assign(session, { access: null, refresh: null, claims: null, refreshTimer: null, tenant: '' });
  changed();
}

/** A query string of the non-empty entries. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * Calls the API: `api('/api/v1/devices', {query: {limit: 100}})`, `api(path, {method: 'POST', json: {...}})`,
 * `{body, contentType}` for other bodies, `{raw: true}` for the Response itself (CSV). A 401 is
 * retried once after a refresh; any other failure throws ApiError.
 */
export async function api(path, options = {}) {
  const send = () => {
    const headers = { Accept: 'application/json', ...(options.headers || {}) };
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    let body = options.body;
    if (options.json !== undefined) { body = JSON.stringify(options.json); headers['Content-Type'] = 'application/json'; }
    else if (options.contentType) headers['Content-Type'] = options.contentType;
    return fetch(path + query(options.query), { method: options.method || 'GET', headers, body, credentials: 'omit', signal: options.signal });
  };
  let response = await send();
  if (response.status === 401 && session.refresh) {
    try { await refresh(); } catch { signOut(); throw new ApiError(401, { title: 'Signed out', detail: 'the session ended; sign in again' }); }
    response = await send();
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({ title: `HTTP ${response.status}` }));
    throw new ApiError(response.status, problem);
  }
  if (options.raw) return response;
  if (response.status === 204) return null;
  return response.json();
}
