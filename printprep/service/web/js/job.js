// Job page: live state, problems first, metal weight, 3D view, layer slider, downloads, actions.
import { api } from './api.js';
import { jobArtifacts, jobName, jobPrinter, jobProgressPct } from './jobs.js';
import { metalWeights, plainReport } from './report.js';
import {
  FINAL_STATES, STAGES, clearMessage, el, every, fmtNumber, fmtPct, fmtTime, initPage,
  listenEvents, reportError, showMessage, stateLabel,
} from './ui.js';

initPage();

const jobId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
const base = `/api/jobs/${encodeURIComponent(jobId)}`;
const $ = (id) => document.getElementById(id);
let job = null;
let viewerShown = false;
let disposeViewer = null;
let viewerKey = '';
let layersShown = false;

function renderHead() {
  const name = jobName(job);
  $('job-title').textContent = `${name} (#${job.id})`;
  document.title = `${name} · printprep`;
  const badge = $('job-state');
  badge.className = `state ${job.state}`;
  badge.textContent = stateLabel(job.state);

  // The stages, with the one the job is in (or stopped in) highlighted.
  const stoppedAt = job.failed_stage ?? job.stage ?? lastPipelineState();
  const idx = STAGES.indexOf(['failed', 'cancelled', 'needs_attention'].includes(job.state) ? stoppedAt : job.state);
  $('stages').replaceChildren(...STAGES.map((s, i) => {
    let cls = '';
    if (job.state === 'done' || i < idx) cls = 'past';
    else if (i === idx) cls = ['failed', 'cancelled', 'needs_attention'].includes(job.state) ? 'stopped' : 'current';
    return el('li', { class: cls, 'aria-current': i === idx ? 'step' : null }, stateLabel(s));
  }));
  const pct = jobProgressPct(job);
  const words = {
    printing: 'Printing…',
    done: 'Finished.',
    failed: 'This job failed. The reason is shown below.',
    cancelled: 'This job was cancelled.',
    needs_attention: 'This job needs a decision: read the problems below, then approve or reject it.',
    queued: 'Ready, waiting for a free printer with this profile.',
  };
  let text = words[job.state] || `${stateLabel(job.state)}…`;
  const running = !FINAL_STATES.includes(job.state) && job.state !== 'needs_attention';
  if (pct !== null && running) text += ` ${fmtPct(pct)}`;
  if (job.stage_detail && running) text += ` — ${job.stage_detail}`;
  const printer = jobPrinter(job);
  if (printer && ['printing', 'done'].includes(job.state) && !String(job.stage_detail || '').includes(printer)) {
    text += ` (printer: ${printer})`;
  }
  $('job-progress').textContent = text;

  const show = (id, on) => $(id).classList.toggle('hidden', !on);
  show('approve', job.state === 'needs_attention');
  show('reject', job.state === 'needs_attention');
  show('retry', ['failed', 'cancelled', 'needs_attention'].includes(job.state));
  show('cancel', !FINAL_STATES.includes(job.state));
}

/** The last pipeline stage the event log shows, for failed/cancelled jobs. */
function lastPipelineState() {
  const events = Array.isArray(job.events) ? job.events : [];
  for (let i = events.length - 1; i >= 0; i--) {
    const s = events[i].state ?? events[i].to_state ?? events[i].to;
    if (STAGES.includes(s)) return s;
  }
  return 'received';
}

function renderReport() {
  const { problems, notes } = plainReport(job);
  $('problems').replaceChildren(...problems.map((p) => el('li', {}, p)));
  if (!problems.length) {
    const checked = !['received', 'checking'].includes(job.state);
    $('problems').replaceChildren(el('li', { class: checked ? 'none' : 'pending' },
      checked ? 'No problems found.' : 'Not checked yet.'));
  }
  $('notes').replaceChildren(...notes.map((n) => el('li', {}, n)));
}

function renderFacts() {
  const rows = [
    ['Profile', job.profile],
    ['Material', job.material],
    ['Alloy', job.alloy],
    ['Priority', job.priority],
    ['Order', job.order_ref],
    ['Submitted by', job.submitter],
    ['Source', job.source],
    ['Printer', jobPrinter(job)],
    ['Submitted', fmtTime(job.created_at)],
    ['Updated', fmtTime(job.updated_at)],
    ['Notes', job.notes],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  $('facts').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
}

function renderMetal() {
  const w = metalWeights(job);
  if (!w || !w.rows.length) {
    if (FINAL_STATES.includes(job.state)) {
      $('metal').replaceChildren(el('p', { class: 'muted' }, 'Not known: the file was not measured.'));
    }
    return;
  }
  const chosen = job.alloy;
  // The chosen alloy and the workshop staples up front; every alloy one click away.
  const staples = ['sterling', '14k-yellow', '18k-yellow', '18k-white', 'platinum'];
  const byName = new Map(w.rows.map((r) => [r.alloy, r]));
  const top = [chosen, ...staples].filter((a, i, all) => a && byName.has(a) && all.indexOf(a) === i).map((a) => byName.get(a));
  const table = (rows) => el('div', { class: 'table-wrap' }, el('table', {},
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Alloy'), el('th', { scope: 'col', class: 'num' }, 'Metal (g)'))),
    el('tbody', {}, ...rows.map((r) => el('tr', { class: r.alloy === chosen ? 'chosen' : null, 'data-alloy': r.alloy },
      el('td', {}, r.label + (r.alloy === chosen ? ' (chosen)' : '')), el('td', { class: 'num' }, fmtNumber(r.grams, 2)))))));
  const note = w.source === 'casting'
    ? `Part and sprues${w.allowancePct !== undefined && w.allowancePct !== null ? `, plus ${fmtNumber(w.allowancePct, 0)} % for the tree and button` : ''}.`
    : 'The piece alone, from the check; the sprues and the tree allowance are added once the part is prepared.';
  const open = $('metal').querySelector('details')?.open ?? false;
  const all = el('details', { open }, el('summary', {}, `All ${w.rows.length} alloys`),
    table(w.rows.slice().sort((a, b) => a.grams - b.grams)));
  const lead = chosen && byName.has(chosen)
    ? el('p', { class: 'big-figure' }, `${fmtNumber(byName.get(chosen).grams, 2)} g of ${byName.get(chosen).label}`) : null;
  $('metal').replaceChildren(lead || '', el('p', { class: 'muted' }, note), table(top.length ? top : w.rows), all);
}

function fileUrl(name) {
  return `${base}/files/${encodeURIComponent(name)}`;
}

function renderFiles() {
  const files = jobArtifacts(job);
  if (!files.length) return;
  const describe = (n) => {
    if (/\.part\.stl$/i.test(n)) return 'the part, prepared';
    if (/\.sprues\.stl$/i.test(n)) return 'sprues';
    if (/\.supports\.stl$/i.test(n)) return 'supports';
    if (/\.casting\.stl$/i.test(n)) return 'what is cast: part and sprues';
    if (/\.print\.stl$/i.test(n)) return 'what is printed: part, sprues, supports';
    if (/\.(sl1s?|pngzip|zip|ctb)$/i.test(n)) return 'archive for the printer';
    if (/\.gcode$/i.test(n)) return 'G-code for the printer';
    if (/report\.json$/i.test(n)) return 'report';
    if (/\.png$/i.test(n)) return 'preview picture';
    if (/repaired/i.test(n)) return 'repaired mesh';
    return null;
  };
  // What people download most comes first: the printer's file, then what is cast.
  const rank = (n) => {
    const order = [/\.(sl1s?|zip|b?gcode)$/i, /\.casting\.stl$/i, /\.print\.stl$/i, /\.part\.stl$/i,
      /\.sprues\.stl$/i, /\.supports\.stl$/i, /repaired/i, /\.png$/i, /report\.json$/i];
    const i = order.findIndex((re) => re.test(n));
    return i < 0 ? order.length : i;
  };
  files.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  $('files').replaceChildren(...files.map((f) => {
    const what = describe(f.name);
    const size = f.size_bytes ?? f.size;
    return el('li', {},
      el('a', { href: fileUrl(f.name), download: f.name }, f.name),
      what || size ? el('span', { class: 'muted' }, ` — ${[what, size ? `${(size / 1e6).toFixed(2)} MB` : null].filter(Boolean).join(', ')}`) : null);
  }));
}

function renderEvents() {
  const events = Array.isArray(job.events) ? job.events : [];
  $('events').replaceChildren(...events.slice().reverse().map((e) => {
    const when = fmtTime(e.at ?? e.time ?? e.created_at ?? e.ts);
    const what = e.message ?? e.text ?? e.detail ?? '';
    const state = e.state ?? e.to_state ?? e.to;
    return el('li', {}, `${when} — ${state ? stateLabel(state) : (e.kind ?? e.type ?? '')}${what ? `: ${what}` : ''}`);
  }));
}

/** Pick the STL artifacts for the 3D view: prepared part/sprues/supports, else a fallback mesh. */
function viewLayers() {
  const names = jobArtifacts(job).map((f) => f.name);
  const find = (re) => names.find((n) => re.test(n));
  const part = find(/\.part\.stl$/i);
  if (part) {
    return [
      { kind: 'part', name: part, label: 'Part' },
      { kind: 'sprues', name: find(/\.sprues\.stl$/i), label: 'Sprues' },
      { kind: 'supports', name: find(/\.supports\.stl$/i), label: 'Supports' },
    ].filter((l) => l.name);
  }
  const casting = find(/\.casting\.stl$/i);
  if (casting) return [{ kind: 'mesh', name: casting, label: 'Part and sprues' }];
  const repaired = find(/repaired.*\.stl$/i);
  if (repaired) return [{ kind: 'mesh', name: repaired, label: 'Repaired mesh', checked: true }];
  // Nothing prepared (yet, or the job stopped for a decision): show the file as received,
  // once the check could read it, with the thin spots the check found.
  const report = job.report || {};
  const original = job.original && /\.stl$/i.test(job.original) ? job.original : null;
  if (original && report.check && typeof report.check === 'object') {
    return [{ kind: 'mesh', name: original, label: 'The file as received', checked: true }];
  }
  return [];
}

/** Thin spots from the check, in the received file's coordinates (mm). */
function thinMarkers(layer) {
  const check = (job.report || {}).check;
  if (!layer.checked || !check || !Array.isArray(check.thin_regions)) return [];
  const scale = Number(check.scale ?? 1);
  // The received file is in its own units; the check's centres are in mm.
  const toFile = layer.name === job.original && Number.isFinite(scale) && scale > 0 ? 1 / scale : 1;
  return check.thin_regions
    .filter((r) => Array.isArray(r.center_mm) && r.center_mm.length === 3)
    .map((r) => ({ at: r.center_mm.map((v) => v * toFile), radius: Math.min(1.5, Math.max(0.4, Math.sqrt((r.area_mm2 || 0.5) / Math.PI))) * toFile }));
}

async function renderViewer() {
  const layers = viewLayers();
  const key = layers.map((l) => l.name).join('|');
  if (!layers.length) {
    if (FINAL_STATES.includes(job.state) && !viewerShown) {
      $('viewer-overlay').textContent = job.state === 'done'
        ? 'This job has no 3D files to show.'
        : 'No 3D view: the job stopped before its file could be read.';
    }
    return;
  }
  if (key === viewerKey) return;
  viewerKey = key;
  const container = $('viewer');
  if (disposeViewer) { disposeViewer(); disposeViewer = null; }
  const overlay = $('viewer-overlay');
  overlay.textContent = 'Loading the 3D view…';
  overlay.classList.remove('hidden');
  try {
    const { showModel, COLOURS } = await import('./viewer.js');
    const markers = thinMarkers(layers[0]);
    const { loaded, failures, dispose } = await showModel(container, layers.map((l) => ({ ...l, url: fileUrl(l.name) })), { markers });
    overlay.classList.add('hidden');
    viewerShown = true;
    disposeViewer = dispose;
    const swatch = (c) => `--swatch: #${c.toString(16).padStart(6, '0')}`;
    $('legend').replaceChildren(...loaded.map((l) => el('span', { style: swatch(COLOURS[l.kind]) }, l.label)),
      ...(markers.length ? [el('span', { style: swatch(COLOURS.thin) }, `Too thin to cast (${markers.length})`)] : []));
    if (failures.length) showMessage(`Some 3D files could not be shown: ${failures.join('; ')}`, 'error', { key: 'viewer' });
  } catch (err) {
    overlay.textContent = err.message || String(err);
  }
}

async function renderLayers() {
  if (layersShown) return;
  const archive = job.archive || jobArtifacts(job).map((f) => f.name).find((n) => /\.(sl1s?|zip)$/i.test(n));
  if (archive && /\.b?gcode$/i.test(archive)) {
    $('layers-status').textContent = 'This job is G-code for a filament printer: there are no layer images.';
    return;
  }
  if (!archive) {
    if (FINAL_STATES.includes(job.state) || job.state === 'needs_attention') {
      $('layers-status').textContent = 'No layers: the job was not sliced.';
    }
    return;
  }
  layersShown = true;
  $('layers-status').textContent = 'Loading the layers…';
  let info;
  try {
    info = await api(`${base}/layers`);
  } catch (err) {
    layersShown = false;
    $('layers-status').textContent = `The layers cannot be shown: ${err.message}`;
    return;
  }
  const count = Number(info.count);
  if (!count) {
    $('layers-status').textContent = 'The archive holds no layers.';
    return;
  }
  const slider = $('layer');
  const img = $('layer-img');
  slider.max = String(count);
  slider.value = '1';
  $('layer-count').textContent = String(count);
  const win = Array.isArray(info.window_px) ? info.window_px : null;
  $('layers-status').textContent = `${count} layers of ${info.width_px} × ${info.height_px} pixels. White is exposed resin.`;
  $('whole-display').closest('label').classList.toggle('hidden', !win);
  $('layers-ui').classList.remove('hidden');
  let pending = null;
  const show = () => {
    const n = Number(slider.value);
    $('layer-number').textContent = String(n);
    slider.setAttribute('aria-valuetext', `Layer ${n} of ${count}`);
    clearTimeout(pending);
    // Debounce while dragging so the server is not asked for every intermediate layer.
    const crop = $('whole-display').checked ? '' : 'window=1&';
    pending = setTimeout(() => { img.src = `${base}/layers/${n - 1}.png?${crop}max_px=1200`; }, 60);
  };
  $('whole-display').addEventListener('change', show);
  img.onerror = () => showMessage(`Layer ${slider.value} could not be loaded.`, 'error', { key: 'layer' });
  img.onload = () => { clearMessage('layer'); img.alt = `Layer ${slider.value} of ${count}`; };
  slider.addEventListener('input', show);
  show();
}

async function refresh() {
  job = await api(base);
  renderHead();
  renderReport();
  renderFacts();
  renderMetal();
  renderFiles();
  renderEvents();
  renderViewer();
  renderLayers();
}

async function act(action, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  const buttons = document.querySelectorAll('#job-actions button');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await api(`${base}/${action}`, { method: 'POST' });
    const done = { cancel: 'Job cancelled.', retry: 'Job sent through the stages again.', approve: 'Approved: the job continues.', reject: 'Rejected.' };
    showMessage(done[action] || 'Done.', 'ok', { key: 'action' });
    if (action === 'retry') { layersShown = false; viewerKey = ''; viewerShown = false; }
    await refresh();
  } catch (err) {
    reportError(err, 'action');
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

$('cancel').addEventListener('click', () => act('cancel', 'Cancel this job? A print in progress is stopped.'));
$('retry').addEventListener('click', () => act('retry'));
$('approve').addEventListener('click', () => act('approve'));
$('reject').addEventListener('click', () => act('reject', 'Reject this job? It will not be printed.'));

// Events about this job refresh at once; the poll is the safety net.
let soon = null;
const mine = (data) => {
  if (!data || String(data.id ?? data.job_id) !== jobId) return;
  clearTimeout(soon);
  soon = setTimeout(() => refresh().catch((err) => reportError(err, 'poll')), 150);
};
listenEvents({ job: mine, progress: mine }, { showLive: false });

// Quick while the job moves, slow once it has ended (a retry elsewhere still shows up).
every(() => (job && FINAL_STATES.includes(job.state) ? 10_000 : 1500), async () => {
  try {
    await refresh();
  } catch (err) {
    if (err.status === 404) {
      $('job-title').textContent = `Job #${jobId}`;
      $('job-state').textContent = 'Not found';
      throw new Error(`There is no job #${jobId}. It may have been removed; see the list of jobs.`);
    }
    throw err;
  }
}, (err) => reportError(err, 'poll'));
