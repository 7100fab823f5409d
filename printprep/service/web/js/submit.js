// Submit page: pick or drop a mesh, choose profile/material/alloy/priority, upload with progress.
import { api, upload } from './api.js';
import { alloyLabel, clearMessage, el, initPage, reportError, showMessage } from './ui.js';

initPage();

const form = document.getElementById('submit-form');
const fileInput = document.getElementById('file');
const drop = document.getElementById('dropzone');
const fileName = document.getElementById('file-name');
const profileSel = document.getElementById('profile');
const materialSel = document.getElementById('material');
const alloySel = document.getElementById('alloy');
const submitBtn = document.getElementById('submit-button');
const stopBtn = document.getElementById('cancel-upload');
const progressBox = document.getElementById('upload');
const progress = document.getElementById('progress');
const progressText = document.getElementById('progress-text');
const MESH_EXT = /\.(stl|obj|ply|3mf)$/i;

let chosen = null; // the File to send
let choices = { profiles: [], materials: [], alloys: [] };
let current = null; // the running upload

function chooseFile(file) {
  clearMessage('file');
  if (!file) return;
  if (!MESH_EXT.test(file.name)) {
    showMessage(`"${file.name}" is not a mesh file this service reads (STL, OBJ, PLY or 3MF).`, 'error', { key: 'file' });
  }
  chosen = file;
  const mb = file.size / 1e6;
  fileName.textContent = `${file.name} (${mb >= 1 ? mb.toFixed(1) + ' MB' : Math.ceil(file.size / 1e3) + ' kB'})`;
}

fileInput.addEventListener('change', () => chooseFile(fileInput.files[0]));
drop.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); fileInput.click(); }
});
drop.tabIndex = 0;
for (const name of ['dragenter', 'dragover']) {
  drop.addEventListener(name, (ev) => { ev.preventDefault(); drop.classList.add('over'); });
}
for (const name of ['dragleave', 'dragend']) {
  drop.addEventListener(name, () => drop.classList.remove('over'));
}
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const files = ev.dataTransfer && ev.dataTransfer.files;
  if (!files || !files.length) return;
  if (files.length > 1) showMessage('Only the first of the dropped files is submitted; drop them one at a time.', 'info', { key: 'many' });
  chooseFile(files[0]);
});
// Dropping outside the zone must not navigate away from the form.
window.addEventListener('dragover', (ev) => ev.preventDefault());
window.addEventListener('drop', (ev) => ev.preventDefault());

function fillMaterials() {
  const profile = choices.profiles.find((p) => p.name === profileSel.value);
  const kind = profile ? profile.kind : null;
  const keep = materialSel.value;
  const dflt = profile && profile.default_material
    ? choices.materials.find((m) => m.name === profile.default_material) : null;
  const dfltName = dflt ? (dflt.display_name || dflt.name) : (profile && profile.default_material);
  materialSel.replaceChildren(el('option', { value: '' }, dfltName ? `Default: ${dfltName}` : 'The profile\'s default'));
  for (const m of choices.materials) {
    if (kind && m.kind && m.kind !== kind) continue;
    materialSel.append(el('option', { value: m.name }, m.display_name || m.name));
  }
  if ([...materialSel.options].some((o) => o.value === keep)) materialSel.value = keep;
}

async function loadChoices() {
  try {
    choices = await api('/web/choices');
  } catch (err) {
    reportError(err, 'choices');
    profileSel.replaceChildren(el('option', { value: '' }, 'Profiles could not be loaded'));
    return;
  }
  profileSel.replaceChildren(...choices.profiles.map((p) =>
    el('option', { value: p.name, title: p.name }, p.model || p.name)));
  if (choices.default_profile) profileSel.value = choices.default_profile;
  alloySel.replaceChildren(el('option', { value: '' }, 'Not set'),
    ...choices.alloys.map((a) => el('option', { value: a.name }, `${alloyLabel(a.name)} (${a.density_g_cm3} g/cm³)`)));
  if (choices.default_alloy) alloySel.value = choices.default_alloy;
  fillMaterials();
}
profileSel.addEventListener('change', fillMaterials);

function setBusy(busy) {
  submitBtn.disabled = busy;
  stopBtn.classList.toggle('hidden', !busy);
  progressBox.classList.toggle('hidden', !busy && progress.value === 0);
  for (const field of form.elements) if (field !== stopBtn && field !== submitBtn) field.disabled = busy;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearMessage('submit');
  if (!chosen) {
    showMessage('Choose a mesh file first: drop it on the box or press the box to pick one.', 'error', { key: 'submit' });
    drop.focus();
    return;
  }
  const limit = Number(choices.upload_limit_bytes);
  if (limit && chosen.size > limit) {
    const mb = (n) => `${(n / 1048576).toFixed(n >= 10 * 1048576 ? 0 : 1)} MB`;
    showMessage(`"${chosen.name}" is ${mb(chosen.size)}; this server accepts files up to ${mb(limit)}. `
      + 'Reduce the mesh (fewer triangles) or ask the administrator to raise upload_limit_mb.', 'error', { key: 'submit' });
    return;
  }
  if (!profileSel.value) {
    showMessage('Choose a printer profile.', 'error', { key: 'submit' });
    profileSel.focus();
    return;
  }
  const data = new FormData();
  data.append('file', chosen, chosen.name);
  for (const key of ['profile', 'material', 'alloy', 'priority', 'name', 'order_ref', 'notes']) {
    const value = form.elements[key].value.trim();
    if (value) data.append(key, value);
  }
  progress.value = 0;
  progressText.textContent = '0 %';
  setBusy(true);
  current = upload('/api/jobs', data, (fraction) => {
    const pct = Math.round(fraction * 100);
    progress.value = pct;
    progress.textContent = `${pct} %`;
    progressText.textContent = pct >= 100 ? '100 %, waiting for the server…' : `${pct} %`;
  });
  try {
    const job = await current.promise;
    const id = job && (job.id ?? job.job_id);
    showMessage(`Accepted as job ${id}. Opening it…`, 'ok', { key: 'submit' });
    location.assign(`/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    progress.value = 0;
    setBusy(false);
    progressBox.classList.add('hidden');
    reportError(err, 'submit');
  } finally {
    current = null;
  }
});

stopBtn.addEventListener('click', () => { if (current) current.abort(); });

loadChoices();
