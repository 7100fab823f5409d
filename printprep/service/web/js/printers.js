// Printers dashboard: one card per printer, updated live from the server-sent events.
import { api } from './api.js';
import {
  clearMessage, el, fmtDuration, fmtPct, fmtTime, initPage, listenEvents, reportError, stateBadge,
} from './ui.js';

initPage();

const box = document.getElementById('printers');
const empty = document.getElementById('empty');
const printers = new Map(); // name -> latest status

function printerList(answer) {
  if (Array.isArray(answer)) return answer;
  if (answer && Array.isArray(answer.printers)) return answer.printers;
  if (answer && typeof answer === 'object') return Object.entries(answer).map(([name, s]) => ({ name, ...s }));
  return [];
}

/** A status may be wrapped: {name, status: {...}} or flat. */
function flatten(p) {
  if (p && p.status && typeof p.status === 'object') return { ...p, ...p.status, name: p.name ?? p.status.name };
  return p;
}

function temps(t) {
  if (!t || typeof t !== 'object' || !Object.keys(t).length) return null;
  const words = { tool0: 'nozzle', bed: 'bed', chamber: 'chamber', resin: 'resin', uv: 'UV LED' };
  return Object.entries(t).map(([k, v]) => {
    const actual = typeof v === 'object' && v !== null ? (v.actual ?? v.current) : v;
    const target = typeof v === 'object' && v !== null ? v.target : null;
    return `${words[k] || k} ${Math.round(actual)} °C${target ? ` → ${Math.round(target)} °C` : ''}`;
  }).join(', ');
}

function fact(label, value, cls) {
  if (value === null || value === undefined || value === '') return null;
  return [el('dt', {}, label), el('dd', { class: cls }, value)];
}

const jobNames = new Map(); // job id -> name (or null while being asked)

/** Ask for the names of jobs on the printers once, then show them instead of bare ids. */
function learnJobName(id) {
  if (!id || jobNames.has(id)) return;
  jobNames.set(id, null);
  api(`/api/jobs/${encodeURIComponent(id)}`)
    .then((job) => { jobNames.set(id, job && job.name ? job.name : null); render(); })
    .catch(() => { /* the id stays shown */ });
}

function card(s) {
  if (s.job_name && s.job_id) jobNames.set(s.job_id, s.job_name);
  learnJobName(s.job_id);
  const jobText = s.job_id ? (jobNames.get(s.job_id) ? `${jobNames.get(s.job_id)} (#${s.job_id})` : `#${s.job_id}`) : null;
  const jobLink = s.job_id ? el('a', { href: `/jobs/${encodeURIComponent(s.job_id)}` }, jobText) : 'none';
  let where = null;
  if (s.layer !== null && s.layer !== undefined && s.layer_count) where = `layer ${s.layer + 1} of ${s.layer_count}`;
  else if (s.line !== null && s.line !== undefined && s.line_count) where = `line ${s.line} of ${s.line_count}`;
  const pct = s.progress_pct;
  const bar = pct !== null && pct !== undefined
    ? el('progress', { max: '100', value: String(pct), 'aria-label': `${s.name} progress` }, fmtPct(pct)) : null;
  const dl = el('dl', { class: 'facts' },
    fact('Job', jobLink),
    fact('Plate', s.state === 'finished' ? 'holds the finished print: take it off, then press the button below' : null),
    fact('Progress', pct !== null && pct !== undefined ? `${fmtPct(pct)}${where ? ` (${where})` : ''}` : null),
    fact('Time left', s.time_left_s !== null && s.time_left_s !== undefined ? fmtDuration(s.time_left_s) : null),
    fact('Temperatures', temps(s.temperatures)),
    fact('Profile', s.profile || null),
    fact('Kind', s.kind || null),
    fact('Last error', s.last_error || null, 'error-text'),
    fact('Last seen', s.last_seen ? fmtTime(s.last_seen) : 'never'));
  return el('article', { class: 'card', 'data-printer': s.name, 'data-state': s.state, 'aria-label': `Printer ${s.name}` },
    el('h2', {}, el('span', {}, s.name), stateBadge(s.state)),
    bar, dl, actions(s));
}

function render() {
  const names = [...printers.keys()].sort();
  const cards = names.map((n) => card(printers.get(n)));
  // Keep keyboard focus on the same card's button or link across the re-render.
  const active = document.activeElement;
  const focused = active && active.closest ? active.closest('.card') : null;
  const focusName = focused ? focused.dataset.printer : null;
  const action = focused ? active.dataset.action : null;
  box.replaceChildren(...cards);
  if (focusName) {
    const card = box.querySelector(`[data-printer="${CSS.escape(focusName)}"]`);
    const again = card && (action ? card.querySelector(`[data-action="${action}"]`) : card.querySelector('a'));
    if (again) again.focus();
  }
  empty.classList.toggle('hidden', names.length > 0);
}

function update(raw) {
  const s = flatten(raw);
  if (!s || !s.name || !s.state) return false;
  const prev = printers.get(s.name) || {};
  const next = { ...prev, ...s };
  if (prev.job_id !== s.job_id && !('job_name' in s)) delete next.job_name; // another job now
  printers.set(s.name, next);
  render();
  return true;
}

/** Actions a technician takes at the printer: acknowledge the plate, pause, resume. */
function actions(s) {
  const buttons = [];
  const act = (action, label, cls) => {
    const b = el('button', { type: 'button', class: cls || 'secondary', 'data-action': action }, label);
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        update(await api(`/api/printers/${encodeURIComponent(s.name)}/${action}`, { method: 'POST' }));
        clearMessage('printer-action');
      } catch (err) {
        reportError(err, 'printer-action');
      } finally {
        b.disabled = false;
      }
    });
    buttons.push(b);
  };
  // A finished print stays on the plate: the printer takes no job until someone says so.
  if (s.state === 'finished') act('clear', 'Plate cleared: ready for the next job');
  if (s.state === 'error') act('clear', 'Error dealt with: ready for the next job');
  if (s.state === 'printing') act('pause', 'Pause');
  if (s.state === 'paused') act('resume', 'Resume', '');
  return buttons.length ? el('div', { class: 'actions' }, ...buttons) : null;
}

async function loadAll() {
  const answer = await api('/api/printers');
  printers.clear();
  for (const p of printerList(answer)) update(p);
  render();
}

function onEvent(data) {
  if (!data || typeof data !== 'object') return;
  if (update(data)) return;
  if (data.printer && typeof data.printer === 'object') update(data.printer);
  else if (data.data && typeof data.data === 'object') update(data.data);
  else if (Array.isArray(data.printers)) data.printers.forEach(update);
}

loadAll().catch((err) => reportError(err, 'load'));
// Reload the full list whenever the event stream (re)connects, so nothing missed while
// disconnected stays stale.
// A slow poll as a safety net (and to refresh "last seen", which events leave out).
setInterval(() => { if (!document.hidden) loadAll().catch((err) => reportError(err, 'load')); }, 30_000);
let opened = false;
listenEvents({ printer: onEvent, status: onEvent, printer_status: onEvent, message: onEvent }, {
  onOpen: () => {
    if (opened) loadAll().catch((err) => reportError(err, 'load'));
    opened = true;
  },
});
