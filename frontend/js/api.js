// A small fetch wrapper: same-origin cookies, JSON in and out, X-CSRF-Token on
// state-changing requests, and the API's {"error": {code, message}} turned into ApiError.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function readCookie(name) {
  const prefix = name + '=';
  for (const part of document.cookie.split(';')) {
    const item = part.trim();
    if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
  }
  return null;
}

async function ensureCsrfCookie() {
  if (readCookie('csrftoken')) return;
  // The API sets csrftoken on GET /api/config when it is missing.
  try { await fetch('/api/config', { credentials: 'same-origin', headers: { Accept: 'application/json' } }); } catch (_) { /* reported by the real call */ }
}

function codeForStatus(status) {
  if (status === 401) return 'not_authenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 422 || status === 400) return 'validation_error';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'http_' + status;
}

/**
 * api('GET', '/api/me') → parsed JSON (null for 204).
 * Throws ApiError {status, code, message}; status 0 / code "network" when the server cannot be reached.
 */
export async function api(method, path, body, { signal, headers: extra, retried = false } = {}) {
  method = method.toUpperCase();
  const headers = { Accept: 'application/json', ...extra };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (UNSAFE.has(method)) {
    await ensureCsrfCookie();
    const token = readCookie('csrftoken');
    if (token) headers['X-CSRF-Token'] = token;
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'network error');
  }

  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (response.ok) return data;

  if (data && data.error && typeof data.error === 'object') {
    // The token is bound to the session: one issued before a log-in (or for a session since
    // closed, e.g. in another tab) is refused once; the next read hands out this session's.
    if (data.error.code === 'csrf_failed' && UNSAFE.has(method) && !retried) {
      document.cookie = 'csrftoken=; Max-Age=0; Path=/; SameSite=Lax';
      await ensureCsrfCookie();
      return api(method, path, body, { signal, headers: extra, retried: true });
    }
    const err = new ApiError(response.status, data.error.code || codeForStatus(response.status),
      data.error.message || '', data.error.details ?? data.error.fields);
    // A 429 says when to come back (seconds); the message can then say so too.
    const retryAfter = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    if (retryAfter > 0) err.retryAfter = retryAfter;
    throw err;
  }
  // FastAPI's own {"detail": ...} (e.g. validation) or a proxy's HTML page.
  const detail = data && data.detail;
  throw new ApiError(response.status, codeForStatus(response.status),
    typeof detail === 'string' ? detail : '', Array.isArray(detail) ? detail : undefined);
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);

/** A random key for Idempotency-Key (getRandomValues works on plain http too, randomUUID doesn't). */
export function randomKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}
