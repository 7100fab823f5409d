// The job's reports in plain words: problems first, then what was done and measured.
import { alloyLabel, fmtNumber } from './ui.js';

const UNIT_WORDS = { inch: 'inches', in: 'inches', m: 'metres', cm: 'centimetres', mm: 'millimetres' };

/** Every object inside a report that might hold problems / facts (the report and its sections). */
function sections(report) {
  const out = [];
  const walk = (obj, depth) => {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj) || depth > 3) return;
    out.push(obj);
    for (const v of Object.values(obj)) walk(v, depth + 1);
  };
  walk(report, 0);
  return out;
}

function first(report, key) {
  for (const s of sections(report)) if (s[key] !== undefined && s[key] !== null) return s[key];
  return undefined;
}

/**
 * Problems (sentences) and notes (sentences) for a job.
 * Problems: the job's error, the checks' `problems` lists, thin regions.
 * Notes: unit scaling, repair steps, supports/sprues, print time.
 */
export function plainReport(job) {
  const report = job.report || {};
  const problems = [];
  const notes = [];
  const add = (list, text) => {
    // Capitalise a sentence that opens with a plain word, never a file name or an id.
    const raw = text ? String(text) : '';
    const sentence = /^[a-z]+[\s,]/.test(raw) ? raw.charAt(0).toUpperCase() + raw.slice(1) : raw;
    if (sentence && !list.includes(sentence)) list.push(sentence);
  };
  const text = (p) => (typeof p === 'string' ? p : (p && (p.message || p.text)) || JSON.stringify(p));
  const listed = [];
  for (const s of sections(report)) {
    for (const key of ['attention', 'problems']) {
      if (Array.isArray(s[key])) for (const p of s[key]) add(listed, text(p));
    }
  }
  // The job's error often strings the same sentences together: show it only when it says more.
  const errorLower = String(job.error || "").toLowerCase();
  if (job.error && !listed.some((p) => errorLower.includes(p.toLowerCase()))) add(problems, String(job.error));
  for (const p of listed) add(problems, p);
  // Warnings that repeat a problem in other words (same opening clause) are left out.
  const head = (t) => String(t).split(/[;:]/)[0].trim().toLowerCase();
  const problemHeads = new Set(problems.map(head));
  for (const s of sections(report)) {
    if (Array.isArray(s.warnings)) {
      for (const w of s.warnings) if (!problemHeads.has(head(text(w)))) add(notes, text(w));
    }
  }
  const units = first(report, 'units');
  const scale = Number(first(report, 'scale'));
  const unitsWarned = notes.some((n) => /^units\b/i.test(n));
  if (unitsWarned) {
    // The check already said what it assumed, in its own words.
  } else if (units && units !== 'mm' && Number.isFinite(scale) && scale !== 1) {
    const detected = first(report, 'units_detected');
    add(notes, `The file was in ${UNIT_WORDS[units] || units}${detected === false ? '' : ' (judged from its size)'}: it was scaled ×${fmtNumber(scale, scale >= 10 ? 1 : 3)} to millimetres.`);
  } else if (units === 'mm') {
    const why = first(report, 'units_note');
    add(notes, `The file is in millimetres${why ? ` (${why})` : ''}; no scaling was needed.`);
  }
  const steps = first(report, 'steps');
  if (Array.isArray(steps)) {
    const done = steps.filter((s) => s && Number(s.count) > 0)
      .map((s) => `${String(s.step).replaceAll('_', ' ')} (${s.count})`);
    if (done.length) add(notes, `Repairs made: ${done.join(', ')}.`);
  }
  const volume = first(report, 'volume_mm3');
  if (volume !== undefined && Number(volume) > 0) add(notes, `Volume of the piece: ${fmtNumber(volume, 1)} mm³.`);
  const bodies = first(report, 'shells');
  if (bodies !== undefined && Number(bodies) > 1) add(notes, `The file holds ${bodies} separate bodies; they stay separate.`);
  const gates = first(report, 'gates');
  if (Array.isArray(gates) && gates.length) {
    const d = gates.map((g) => g && (g.diameter_mm ?? g.d_mm)).filter((x) => x !== undefined);
    add(notes, `${gates.length === 1 ? 'One sprue' : `${gates.length} sprues`}${d.length ? ` (${d.map((x) => `${fmtNumber(x, 1)} mm`).join(', ')})` : ''} added for casting.`);
  }
  const supportSection = first(report, 'supports');
  const supports = first(report, 'support_count') ?? first(report, 'supports_count')
    ?? (supportSection && typeof supportSection === 'object' && !Array.isArray(supportSection) ? supportSection.count : undefined);
  if (supports !== undefined) add(notes, `${supports} support${Number(supports) === 1 ? '' : 's'} added for printing.`);
  const layers = first(report, 'layer_count');
  if (layers !== undefined) add(notes, `Sliced into ${layers} layers.`);
  const printTime = first(report, 'print_time_s');
  if (printTime !== undefined) {
    const m = Math.round(Number(printTime) / 60);
    add(notes, `Estimated print time: ${m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`}.`);
  }
  return { problems, notes };
}

/**
 * Metal weight per alloy: {rows: [{alloy, grams}], allowancePct, source}.
 * Prefers the casting report (part + sprues + tree allowance) over the check report.
 */
export function metalWeights(job) {
  const report = job.report || {};
  const order = ['casting', 'prepare', 'prepared', 'cast'];
  let weights = null;
  let source = 'check';
  for (const key of order) {
    const sec = report[key];
    if (sec && typeof sec === 'object') {
      const w = [sec.metal_weight_by_alloy_g, sec.metal_weight_g, sec.metal_weights_g]
        .find((x) => x && typeof x === 'object');
      if (w) { weights = w; source = 'casting'; break; }
    }
  }
  if (!weights) {
    weights = [first(report, 'metal_weight_by_alloy_g'), first(report, 'metal_weight_g'), job.metal_weight_g]
      .find((x) => x && typeof x === 'object') ?? null;
  }
  if (!weights || typeof weights !== 'object') return null;
  const allowance = first(report, 'tree_allowance_pct');
  const rows = Object.entries(weights)
    .filter(([, g]) => Number.isFinite(Number(g)))
    .map(([alloy, grams]) => ({ alloy, label: alloyLabel(alloy), grams: Number(grams) }));
  return { rows, allowancePct: allowance, source };
}
