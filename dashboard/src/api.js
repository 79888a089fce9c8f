// The JSON API client. The token lives in sessionStorage (this tab only,
// gone when it closes) and travels as an Authorization header, never in a
// URL, so it stays out of server logs and browser history.
const KEY = 'hwnas.token';

export const getToken = () => sessionStorage.getItem(KEY) || '';
export const setToken = (t) => sessionStorage.setItem(KEY, t);
export const clearToken = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Listeners told whether the server answers (false: "reconnecting").
const onlineListeners = new Set();
export const onOnline = (fn) => (onlineListeners.add(fn), () => onlineListeners.delete(fn));
const setOnline = (v) => onlineListeners.forEach((fn) => fn(v));

// `after`: a promise the body waits for before it is read and parsed (on
// the page's main thread): a chart's large answer can be on its way while
// the page's first render goes ahead of it.
// `body`: sent as JSON (POST actions such as enqueue).
export async function api(path, { method = 'GET', token = getToken(), after = null, body: payload = undefined } = {}) {
  let res;
  try {
    const headers = { Authorization: 'Bearer ' + token };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    res = await fetch('/api/v1/' + path, {
      method,
      headers,
      cache: 'no-store',
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
  } catch (e) {
    setOnline(false);
    throw new ApiError(0, 'the server does not answer');
  }
  if (res.status === 503) {
    setOnline(false);
    throw new ApiError(503, 'the server is starting');
  }
  setOnline(true);
  if (after) await after;
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = { error: 'unexpected answer (' + res.status + ')' };
  }
  if (!res.ok) {
    if (res.status === 401) {
      clearToken();
      window.dispatchEvent(new Event('hwnas-logout'));
    }
    throw new ApiError(res.status, body.error || 'error ' + res.status);
  }
  return body;
}

export const qs = (o) =>
  Object.entries(o)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v))
    .join('&');
