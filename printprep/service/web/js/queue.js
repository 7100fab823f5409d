// Queue page: every job, newest first, filterable by state, profile and printer; live.
// The server filters and pages (GET /api/jobs?state=&profile=&printer=&limit=&offset=), so
// the page is right with any number of jobs; it shows one page of PAGE jobs at a time.
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
const count = document.getElementById('count');
const newer = document.getElementById('newer');
const older = document.getElementById('older');
const live = document.getElementById('live');
const PAGE = 50;
/** 1-based page number; kept in the address with the filters. */
let page = 1;

// Filters and page live in the address so a view can be bookmarked on the workshop tablet.
const params = new URLSearchParams(location.search);
for (const sel of [stateSel, profileSel, printerSel]) {
  const v = params.get(sel.name);
  if (v) {
    if (![...sel.options].some((o) => o.value === v)) sel.append(el('option', { value: v }, v));
    sel.value = v;
  }
}
page = Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1);

function remember() {
  const q = new URLSearchParams();
  for (const sel of [stateSel, profileSel, printerSel]) if (sel.value) q.set(sel.name, sel.value);
  if (page > 1) q.set('page', String(page));
  history.replaceState(null, '', q.toString() ? `?${q}` : location.pathname);
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

function query() {
  const q = new URLSearchParams({ limit: String(PAGE), offset: String((page - 1) * PAGE) });
  const state = stateSel.value;
  if (state) q.set('state', state === 'active' ? ACTIVE_STATES.join(',') : state);
  if (profileSel.value) q.set('profile', profileSel.value);
  if (printerSel.value) q.set('printer', printerSel.value);
  return q;
}

/** Answers can cross (a poll, then a click): only the newest request's answer is shown. */
let asked = 0;

async function refresh() {
  const mine = ++asked;
  let answer = await api(`/api/jobs?${query()}`);
  if (mine !== asked) return;
  let total = Number(answer && answer.total) || 0;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  if (page > pages) { // jobs went away (or a stale bookmark): show the last page there is
    page = pages;
    remember();
    answer = await api(`/api/jobs?${query()}`);
    if (mine !== asked) return;
    total = Number(answer && answer.total) || 0;
  }
  const jobs = jobList(answer);
  addOptions(profileSel, jobs.map((j) => j.profile));
  addOptions(printerSel, jobs.map(jobPrinter));
  tbody.replaceChildren(...jobs.map(row));
  empty.classList.toggle('hidden', jobs.length > 0);
  const first = (page - 1) * PAGE + 1;
  const noun = `job${total === 1 ? '' : 's'}`;
  const which = stateSel.value || profileSel.value || printerSel.value ? ' matching these filters' : '';
  count.textContent = !jobs.length ? ''
    : total <= PAGE ? `${total} ${noun}${which}, newest first.`
      : `Jobs ${first}–${first + jobs.length - 1} of ${total}${which}, newest first (page ${page} of ${pages}).`;
  newer.disabled = page <= 1;
  older.disabled = page >= pages;
  document.getElementById('pager').classList.toggle('hidden', pages <= 1);
  live.className = 'live on';
  live.textContent = `updated ${new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`;
}

const reload = () => refresh().catch((err) => reportError(err, 'poll'));

filters.addEventListener('change', () => {
  page = 1;
  remember();
  reload();
});
filters.addEventListener('submit', (ev) => ev.preventDefault());
for (const [button, step] of [[newer, -1], [older, 1]]) {
  button.addEventListener('click', () => {
    page = Math.max(1, page + step);
    remember();
    reload();
  });
}

loadFilterChoices();
// A job event (state change, progress) refreshes at once; the poll below is the safety net.
let soon = null;
const soonRefresh = () => {
  clearTimeout(soon);
  soon = setTimeout(reload, 250);
};
listenEvents({ job: soonRefresh, progress: soonRefresh }, { showLive: false });
every(3000, refresh, (err) => {
  live.className = 'live off';
  live.textContent = 'not updating';
  reportError(err, 'poll');
});
