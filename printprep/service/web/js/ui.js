// Shared bits of every page: messages, navigation, formatting, live updates.

/** Words a jeweler reads for each job and printer state. */
export const STATE_LABELS = {
  received: 'Received',
  checking: 'Checking',
  repairing: 'Repairing',
  preparing: 'Preparing for casting',
  slicing: 'Slicing',
  queued: 'Waiting for a printer',
  printing: 'Printing',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
  needs_attention: 'Needs attention',
  offline: 'Offline',
  idle: 'Idle',
  busy: 'Busy',
  paused: 'Paused',
  finished: 'Finished',
  error: 'Error',
};

/** The pipeline in order; the job page shows them as steps. */
export const STAGES = ['received', 'checking', 'repairing', 'preparing', 'slicing', 'queued', 'printing', 'done'];
export const FINAL_STATES = ['done', 'failed', 'cancelled'];
export const ACTIVE_STATES = ['received', 'checking', 'repairing', 'preparing', 'slicing', 'queued', 'printing'];

export function stateLabel(state) {
  return STATE_LABELS[state] || (state ? String(state).replaceAll('_', ' ') : 'Unknown');
}

/** A <span class="state ..."> for a state. */
export function stateBadge(state) {
  const span = el('span', { class: `state ${state || ''}` }, stateLabel(state));
  return span;
}

/** Create an element: el('a', {href: '/x', class: 'y'}, 'text', child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Show a message at the top of the page. kind: 'error' | 'info' | 'ok'. Returns the node. */
export function showMessage(text, kind = 'error', { key } = {}) {
  const box = document.getElementById('messages');
  if (!box) { console.error(text); return null; }
  if (key) {
    const old = box.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (old) old.remove();
  }
  const close = el('button', { type: 'button', class: 'secondary', 'aria-label': 'Dismiss this message' }, 'OK');
  const node = el('div', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-key': key },
    el('span', {}, text), close);
  close.addEventListener('click', () => node.remove());
  box.append(node);
  return node;
}

/** Remove the message shown under `key`, if any. */
export function clearMessage(key) {
  const box = document.getElementById('messages');
  const old = box && box.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (old) old.remove();
}

/** Mark the current page in the navigation. */
export function markNav() {
  const page = document.body.dataset.page;
  for (const a of document.querySelectorAll('header.top nav a')) {
    if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
  }
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return '—';
  let s = Math.max(0, Math.round(Number(seconds)));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (h) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${s} s`;
}

export function fmtTime(value) {
  if (!value) return '—';
  const d = typeof value === 'number' ? new Date(value * (value < 1e12 ? 1000 : 1)) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

export function fmtNumber(value, digits = 1) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString([], { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtPct(value) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return '—';
  return `${Math.round(n)} %`;
}

/** Alloy ids (18k-yellow) as words (18K yellow). */
export function alloyLabel(alloy) {
  return String(alloy).replace(/^(\d+)k/i, '$1K').replaceAll('-', ' ').replaceAll('_', ' ');
}

/**
 * Run `fn` every `intervalMs` (a number, or a function giving it) while the page is
 * visible (4x slower when hidden); returns stop().
 * Errors are passed to onError (shown once, cleared on the next success).
 */
export function every(intervalMs, fn, onError) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
      clearMessage('poll');
    } catch (err) {
      if (onError) onError(err);
    }
    const ms = typeof intervalMs === 'function' ? intervalMs() : intervalMs;
    if (!stopped) timer = setTimeout(tick, document.hidden ? ms * 4 : ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/**
 * Listen to the server-sent events at /api/events. handlers: {eventName: fn(data)};
 * a `message` handler gets unnamed events. Shows connection state in #live.
 */
export function listenEvents(handlers, { onOpen, showLive = true } = {}) {
  const live = showLive ? document.getElementById('live') : null;
  const setLive = (on, text) => {
    if (!live) return;
    live.className = `live ${on ? 'on' : 'off'}`;
    live.textContent = text;
  };
  const source = new EventSource('/api/events', { withCredentials: true });
  source.onopen = () => { setLive(true, 'live'); clearMessage('sse'); if (onOpen) onOpen(); };
  source.onerror = () => {
    setLive(false, 'reconnecting…');
  };
  const wrap = (fn) => (ev) => {
    let data = ev.data;
    try { data = JSON.parse(ev.data); } catch { /* plain text */ }
    fn(data, ev);
  };
  for (const [name, fn] of Object.entries(handlers)) source.addEventListener(name, wrap(fn));
  return source;
}

/** Show an API error as a message; returns the error for chaining. */
export function reportError(err, key) {
  if (err && err.name === 'AbortError') return err;
  showMessage(err && err.message ? err.message : String(err), 'error', { key });
  return err;
}

/** Every page: catch what slipped through so nothing fails silently. */
export function initPage() {
  markNav();
  window.addEventListener('unhandledrejection', (ev) => reportError(ev.reason, 'unhandled'));
}
