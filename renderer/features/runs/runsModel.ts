/** Pure helpers of the runs pages: option fields, ETA, table sorting/filtering, config diffs. Unit tested. */
import type { RunLogLine, RunStatus, RunSummary } from '../../../preload/api';

// ---------- method options as form fields ----------

export type OptionKind = 'number' | 'boolean' | 'text' | 'list' | 'json';

/** Which input a method option gets, from the type of its default. */
export function optionKind(value: unknown): OptionKind {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'text';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return 'list';
  return 'json';
}

/** The text an option's field starts with (booleans use `true`/`false`). */
export function optionText(value: unknown): string {
  switch (optionKind(value)) {
    case 'number':
    case 'text':
    case 'boolean':
      return String(value);
    case 'list':
      return (value as unknown[]).join(', ');
    default:
      return value === null || value === undefined ? '' : JSON.stringify(value);
  }
}

/**
 * A field's text back to the option's value, typed like its default. Lists of numbers stay
 * numbers; an empty JSON field is null. Throws a one-line message when the text does not parse.
 */
export function parseOption(text: string, defaultValue: unknown): unknown {
  const kind = optionKind(defaultValue);
  const trimmed = text.trim();
  if (kind === 'number') {
    const n = Number(trimmed);
    if (trimmed === '' || !Number.isFinite(n)) throw new Error('a number is required');
    return n;
  }
  if (kind === 'boolean') return trimmed === 'true';
  if (kind === 'text') return text;
  if (kind === 'list') {
    const items = trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim()).filter(Boolean);
    const numeric = (defaultValue as unknown[]).length > 0 && (defaultValue as unknown[]).every((v) => typeof v === 'number');
    if (!numeric) return items;
    const numbers = items.map(Number);
    if (numbers.some((n) => !Number.isFinite(n))) throw new Error('a comma-separated list of numbers is required');
    return numbers;
  }
  if (trimmed === '' || trimmed === 'null') return null;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    // Bare lists ("0, 2, 5") are friendlier to type than JSON.
    if (/^[-\d.,\s]+$/.test(trimmed)) return trimmed.split(',').map((s) => Number(s.trim()));
    throw new Error('JSON is required (e.g. null, [0, 2], {"r": 4})');
  }
}

// ---------- progress ----------

export const ACTIVE: readonly RunStatus[] = ['queued', 'running', 'paused'];
export const RESUMABLE: readonly RunStatus[] = ['stopped', 'paused', 'failed', 'interrupted'];
export const isActive = (status: RunStatus) => ACTIVE.includes(status);
export const isResumable = (status: RunStatus) => RESUMABLE.includes(status);

/** Trainable parameters as a percent of all, or null when unknown. */
export function paramsPercent(run: Pick<RunSummary, 'trainableParams' | 'totalParams'>): number | null {
  if (run.trainableParams === null || !run.totalParams) return null;
  return (100 * run.trainableParams) / run.totalParams;
}

/** "0.41%", "12.5%", "100%". */
export function formatPercent(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const digits = value >= 10 ? 1 : value >= 1 ? 2 : value >= 0.01 ? 3 : 4;
  return `${Number(value.toFixed(digits))}%`;
}

/** Accuracy in [0, 1] → "93.4%". */
export function formatAccuracy(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '—' : `${(value * 100).toFixed(1)}%`;
}

/**
 * Seconds per step from (step, time) points: the slope over the latest `window` points of the
 * current stretch (a resume starts a new stretch: time jumps or step goes back). null when unknown.
 */
export function secondsPerStep(points: readonly { step: number; time: number }[], window = 30): number | null {
  let start = points.length - 1;
  while (start > 0 && points.length - start < window) {
    const prev = points[start - 1]!;
    const cur = points[start]!;
    if (prev.step >= cur.step || cur.time - prev.time > 120) break;
    start--;
  }
  const first = points[start];
  const last = points[points.length - 1];
  if (!first || !last || last.step <= first.step || last.time <= first.time) return null;
  return (last.time - first.time) / (last.step - first.step);
}

/** Seconds left: from step timing, else from examples/s and the batch size. */
export function etaSeconds(
  remainingSteps: number,
  perStep: number | null,
  examplesPerS: number | null,
  batchSize: number | null,
): number | null {
  if (remainingSteps <= 0) return 0;
  if (perStep !== null && perStep > 0) return remainingSteps * perStep;
  if (examplesPerS && examplesPerS > 0 && batchSize && batchSize > 0) return (remainingSteps * batchSize) / examplesPerS;
  return null;
}

/** 75 → "1m 15s"; 4000 → "1h 7m"; null → "—". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** 1536 → "1.5 KiB"; 3.2e9 → "3.0 GiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// ---------- the log tail ----------

const logKey = (l: RunLogLine) => `${l.time} ${l.level} ${l.text}`;

/**
 * The log tail after a fetch and the live lines that arrived meanwhile (some of which the fetch
 * may already hold), keeping the last `max`.
 */
export function mergeLogLines(fetched: readonly RunLogLine[], live: readonly RunLogLine[], max: number): RunLogLine[] {
  const seen = new Set(fetched.map(logKey));
  return [...fetched, ...live.filter((l) => !seen.has(logKey(l)))].slice(-max);
}

// ---------- the runs table ----------

export type SortKey = 'name' | 'method' | 'params' | 'best' | 'last' | 'step' | 'status' | 'created';
export interface Sort {
  key: SortKey;
  dir: 'asc' | 'desc';
}

const sortValue = (run: RunSummary, key: SortKey): string | number | null => {
  switch (key) {
    case 'name':
      return run.name.toLowerCase();
    case 'method':
      return run.method;
    case 'params':
      return paramsPercent(run);
    case 'best':
      return run.bestValAccuracy;
    case 'last':
      return run.lastValAccuracy;
    case 'step':
      return run.totalSteps > 0 ? run.step / run.totalSteps : 0;
    case 'status':
      return run.status;
    case 'created':
      return run.createdAt;
  }
};

/** Sorted copy; unknown values (null) go last in either direction; ties keep newest first. */
export function sortRuns(runs: readonly RunSummary[], sort: Sort): RunSummary[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  return [...runs].sort((a, b) => {
    const va = sortValue(a, sort.key);
    const vb = sortValue(b, sort.key);
    if (va === null && vb !== null) return 1;
    if (vb === null && va !== null) return -1;
    if (va !== null && vb !== null && va !== vb) return (va < vb ? -1 : 1) * sign;
    return b.id - a.id;
  });
}

export interface RunFilter {
  status: RunStatus | '';
  method: string;
}

export const filterRuns = (runs: readonly RunSummary[], filter: RunFilter): RunSummary[] =>
  runs.filter((r) => (!filter.status || r.status === filter.status) && (!filter.method || r.method === filter.method));

/** Replaces (or adds) one run of a list by id, keeping the order. */
export function upsertRun(list: readonly RunSummary[], run: RunSummary): RunSummary[] {
  const index = list.findIndex((r) => r.id === run.id);
  if (index < 0) return [run, ...list];
  const copy = [...list];
  copy[index] = run;
  return copy;
}

// ---------- comparing configurations ----------

/** Nested objects flattened to dotted keys ({methodOptions: {r: 8}} → {"methodOptions.r": 8}). */
export function flatten(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out[prefix] = {};
    for (const [key, inner] of entries) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

export interface DiffRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

/** One row per key of any config (in first-seen order), marking rows whose values are not all equal. */
export function diffConfigs(configs: readonly unknown[]): DiffRow[] {
  const flat = configs.map((c) => flatten(c));
  const keys: string[] = [];
  for (const f of flat) for (const key of Object.keys(f)) if (!keys.includes(key)) keys.push(key);
  return keys.map((key) => {
    const values = flat.map((f) => f[key]);
    const texts = values.map((v) => JSON.stringify(v));
    return { key, values, differs: texts.some((t) => t !== texts[0]) };
  });
}

/** A config value for a table cell. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object')) return value.join(', ');
  return JSON.stringify(value);
}

/** The spec a run was created with (config.spec), or {} for runs without one. */
export function specOf(config: unknown): Record<string, unknown> {
  const spec = (config as { spec?: unknown } | null)?.spec;
  return spec && typeof spec === 'object' ? (spec as Record<string, unknown>) : {};
}
