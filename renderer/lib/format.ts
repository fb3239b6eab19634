/** Small display formatters shared by the pages. Pure, unit tested. */

const compact = (value: number, unit: string): string => {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))}${unit}`;
};

/** 86_567_656 → "86.6M"; 1_234 → "1.23K"; 12 → "12". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1e9) return compact(n / 1e9, 'B');
  if (abs >= 1e6) return compact(n / 1e6, 'M');
  if (abs >= 1e3) return compact(n / 1e3, 'K');
  return String(Math.round(n));
}

/** 60000 → "60,000" with a fixed locale so tests and screenshots agree. */
export function formatInt(n: number): string {
  return new Intl.NumberFormat('en-US').format(n);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatInt(n)} ${n === 1 ? one : many}`;
}

/** Percent of done/total clamped to [0, 100]; 0 when total is unknown. */
export function percent(done: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.max(0, Math.min(100, (done / total) * 100));
}

/** ISO timestamp → "2026-11-27 09:52" in local time; the raw text when it does not parse. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (v: number) => String(v).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
