// Reading job objects from the API the same way on every page.

/** The list of jobs in a GET /api/jobs answer (a list, or {jobs|items: [...]}). */
export function jobList(answer) {
  if (Array.isArray(answer)) return answer;
  if (answer && Array.isArray(answer.jobs)) return answer.jobs;
  if (answer && Array.isArray(answer.items)) return answer.items;
  return [];
}

/** Progress of a job in percent (0-100), or null when unknown. */
export function jobProgressPct(job) {
  if (job.progress_pct !== undefined && job.progress_pct !== null) return Number(job.progress_pct);
  const p = job.progress;
  if (p === undefined || p === null) return null;
  if (typeof p === 'object') {
    if (p.pct !== undefined) return Number(p.pct);
    if (p.progress_pct !== undefined) return Number(p.progress_pct);
    return null;
  }
  const n = Number(p);
  if (!Number.isFinite(n)) return null;
  return n <= 1 ? n * 100 : n;
}

export function jobCreated(job) {
  return job.created_at ?? job.created ?? job.submitted_at ?? null;
}

export function jobPrinter(job) {
  return job.printer ?? job.printer_name ?? (job.options && job.options.printer) ?? null;
}

export function jobName(job) {
  return job.name || job.filename || job.source_name || `Job ${job.id}`;
}

/** Artifact names of a job: a list of names or of {name, size_bytes, ...}. */
export function jobArtifacts(job) {
  const list = job.artifacts ?? job.files ?? [];
  if (Array.isArray(list)) return list.map((a) => (typeof a === 'string' ? { name: a } : a));
  if (list && typeof list === 'object') return Object.entries(list).map(([name, v]) => ({ name, ...(typeof v === 'object' ? v : {}) }));
  return [];
}
