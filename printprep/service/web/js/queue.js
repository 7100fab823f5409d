// Queue page: every job, newest first, filterable by state, profile and printer; live.
import { api } from './api.js';
import { jobCreated, jobList, jobName, jobPrinter, jobProgressPct } from './jobs.js';
import { ACTIVE_STATES, el, every, fmtPct, fmtTime, initPage, listenEvents, reportError, stateBadge } from './ui.js';

initPage();

const filters = document.getElementById('filters');
const stateSel = document.getElementById('f-state');
const profileSel = document.getElementById('f-profile');
const printerSel = document.getElementById('f-printer');
const tbody = document.getElementById('jobs');
const empty = document.getElementById('empty');
const more = document.getElementById('more');
const live = document.getElementById('live');
const PAGE = 50;
let limit = PAGE;

// Filters live in the address so a filtered view can be bookmarked on the workshop tablet.
const params = new URLSearchParams(location.search);
for (const sel of [stateSel, profileSel, printerSel]) {
  const v = params.get(sel.name);
  if (v) {
    if (![...sel.options].some((o) => o.value === v)) sel.append(el('option', { value: v }, v));
    sel.value = v;
  }
}

function addOptions(select, values) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const v of values) if (v && !have.has(v)) { select.append(el('option', { value: v }, v)); have.add(v); }
}

async function loadFilterChoices() {
  try {
    const choices = await api('/web/choices');
    addOptions(profileSel, choices.profiles.map((p) => p.name));
    addOptions(printerSel, (choices.printers || []).map((p) => p.name));
  } catch (err) {
    reportError(err, 'choices');
  }
}

function row(job) {
  const pct = jobProgressPct(job);
  const link = el('a', { href: `/jobs/${encodeURIComponent(job.id)}` }, jobName(job));
  return el('tr', { 'data-job': job.id, 'data-state': job.state },
    el('td', {}, link, el('div', { class: 'muted job-id' }, `#${job.id}`)),
    el('td', {}, stateBadge(job.state)),
    el('td', { class: 'hide-narrow' }, job.profile || '—'),
    el('td', { class: 'hide-narrow' }, jobPrinter(job) || '—'),
    el('td', { class: 'num' }, job.state === 'done' ? '100 %' : ACTIVE_STATES.includes(job.state) ? fmtPct(pct) : '—'),
    el('td', { class: 'hide-narrow' }, fmtTime(jobCreated(job))));
}

function newestFirst(a, b) {
  const ta = Date.parse(jobCreated(a)) || Number(jobCreated(a)) || 0;
  const tb = Date.parse(jobCreated(b)) || Number(jobCreated(b)) || 0;
  if (tb !== ta) return tb - ta;
  return String(b.id).localeCompare(String(a.id), undefined, { numeric: true });
}

async function refresh() {
  const q = new URLSearchParams({ limit: String(limit) });
  const state = stateSel.value;
  if (state) q.set('state', state === 'active' ? ACTIVE_STATES.join(',') : state);
  if (profileSel.value) q.set('profile', profileSel.value);
  if (printerSel.value) q.set('printer', printerSel.value);
  const answer = await api(`/api/jobs?${q}`);
  let jobs = jobList(answer);
  addOptions(profileSel, jobs.map((j) => j.profile));
  addOptions(printerSel, jobs.map(jobPrinter));
  if (state === 'active') jobs = jobs.filter((j) => ACTIVE_STATES.includes(j.state));
  else if (state) jobs = jobs.filter((j) => j.state === state);
  if (profileSel.value) jobs = jobs.filter((j) => j.profile === profileSel.value);
  if (printerSel.value) jobs = jobs.filter((j) => jobPrinter(j) === printerSel.value);
  jobs.sort(newestFirst);
  tbody.replaceChildren(...jobs.map(row));
  empty.classList.toggle('hidden', jobs.length > 0);
  const total = answer && typeof answer.total === 'number' ? answer.total : null;
  const narrowed = profileSel.value || printerSel.value;
  document.getElementById('count').textContent = total === null ? ''
    : `${jobs.length} shown${narrowed ? ` (filtered from the newest ${jobList(answer).length})` : ''} of ${total} job${total === 1 ? '' : 's'}${stateSel.value ? ' in this state' : ''}.`;
  more.classList.toggle('hidden', total !== null ? total <= limit : jobList(answer).length < limit);
  live.className = 'live on';
  live.textContent = `updated ${new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`;
}

filters.addEventListener('change', () => {
  const q = new URLSearchParams();
  for (const sel of [stateSel, profileSel, printerSel]) if (sel.value) q.set(sel.name, sel.value);
  history.replaceState(null, '', q.toString() ? `?${q}` : location.pathname);
  limit = PAGE;
  refresh().catch((err) => reportError(err, 'poll'));
});
filters.addEventListener('submit', (ev) => ev.preventDefault());
more.addEventListener('click', () => { limit += PAGE; refresh().catch((err) => reportError(err, 'poll')); });

loadFilterChoices();
// A job event (state change, progress) refreshes at once; the poll below is the safety net.
let soon = null;
const soonRefresh = () => {
  clearTimeout(soon);
  soon = setTimeout(() => refresh().catch((err) => reportError(err, 'poll')), 250);
};
listenEvents({ job: soonRefresh, progress: soonRefresh }, { showLive: false });
every(3000, refresh, (err) => {
  live.className = 'live off';
  live.textContent = 'not updating';
  reportError(err, 'poll');
});
