// Calls to the printprep REST API. The session cookie (printprep_token) is sent by the
// browser with every same-origin request; the API accepts it like a Bearer token.

/** An API call that failed, with a message a person can act on. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** Turn FastAPI's error body ({detail: str | [{loc, msg}]}) into one sentence. */
export function errorText(status, body, fallback) {
  const detail = body && (body.detail ?? body.message ?? body.error);
  if (typeof detail === 'string' && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => {
      const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== 'body').join(' › ') : '';
      return where ? `${where}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
    }).join('; ');
  }
  if (detail && typeof detail === 'object') return JSON.stringify(detail);
  const known = {
    400: 'The server refused the request as malformed.',
    401: 'You are not signed in, or your token is no longer valid.',
    403: 'Your token is not allowed to do this.',
    404: 'Not found: it may have been removed.',
    409: 'This is not possible in the job\'s current state.',
    413: 'The file is larger than the server accepts.',
    415: 'The server does not accept this kind of file.',
    422: 'Some of the values sent were not accepted.',
    500: 'The server hit an internal error. Try again; if it persists, tell the administrator.',
    502: 'The server is not reachable (bad gateway).',
    503: 'The server is busy or starting up. Try again in a moment.',
  };
  return known[status] || fallback || `The server answered with status ${status}.`;
}

/** Send the person to the sign-in page, coming back here afterwards. */
export function toSignin() {
  const next = location.pathname + location.search;
  location.assign(`/signin?next=${encodeURIComponent(next)}&expired=1`);
}

/**
 * Call the API and return the decoded JSON (null for an empty answer).
 * Throws ApiError with a readable message; a 401 sends the person to sign in.
 */
export async function api(path, { method = 'GET', json, body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, signal, credentials: 'same-origin' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The printprep server cannot be reached. Check that it is running and the network is up.');
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (resp.status === 401) {
    toSignin();
    throw new ApiError(401, errorText(401, data));
  }
  if (!resp.ok) throw new ApiError(resp.status, errorText(resp.status, data));
  return data;
}

/**
 * Upload a FormData with XMLHttpRequest so the progress can be shown.
 * onProgress(fraction 0..1). Returns {promise, abort}.
 */
export function upload(path, form, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.withCredentials = true;
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && onProgress) onProgress(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      let data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { data = null; }
      if (xhr.status === 401) { toSignin(); }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, errorText(xhr.status, data)));
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload was interrupted: the server cannot be reached.'));
    xhr.onabort = () => reject(new ApiError(-1, 'The upload was stopped.'));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
