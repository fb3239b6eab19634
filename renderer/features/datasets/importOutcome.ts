/**
 * One report for what the user did, even when a drop travelled as several `imports.start`
 * calls. Pure; unit tested.
 */
import type { ImportIssue, ImportReport, ImportStatus } from '../../../preload/api';

export interface ImportOutcome {
  /** What was imported, in words ("folder /data/pets", "312 dropped files"). */
  label: string;
  status: ImportStatus;
  total: number;
  added: number;
  duplicates: number;
  skipped: number;
  issues: ImportIssue[];
  error: string | null;
  importIds: number[];
  finishedAt: string | null;
}

export const isTerminal = (status: ImportStatus): boolean => status !== 'running';

export function outcomeOf(label: string, reports: ImportReport[], localIssues: ImportIssue[] = [], error: string | null = null): ImportOutcome {
  const sum = (key: 'total' | 'added' | 'duplicates' | 'skipped') => reports.reduce((n, r) => n + r[key], 0);
  const statuses = reports.map((r) => r.status);
  const status: ImportStatus =
    error !== null || statuses.includes('failed')
      ? 'failed'
      : statuses.includes('cancelled')
        ? 'cancelled'
        : statuses.includes('running')
          ? 'running'
          : 'done';
  const errors = [error, ...reports.map((r) => r.error)].filter((e): e is string => !!e);
  return {
    label,
    status,
    total: sum('total') + localIssues.length,
    added: sum('added'),
    duplicates: sum('duplicates'),
    skipped: sum('skipped') + localIssues.length,
    issues: [...localIssues, ...reports.flatMap((r) => r.issues)],
    error: errors.length > 0 ? [...new Set(errors)].join('; ') : null,
    importIds: reports.map((r) => r.id),
    finishedAt: reports.map((r) => r.finishedAt).filter((f): f is string => !!f).sort().at(-1) ?? null,
  };
}

/** A headline for the report: "Imported 1,204 images" / "Import cancelled" / "Import failed". */
export function outcomeTitle(outcome: ImportOutcome): string {
  switch (outcome.status) {
    case 'failed':
      return 'Import failed';
    case 'cancelled':
      return 'Import cancelled';
    case 'running':
      return 'Import running';
    default:
      return outcome.added === 0 ? 'Import finished: nothing new' : 'Import finished';
  }
}

/** "folder /a/b" from an import's source text, whatever its shape. */
export function sourceLabel(report: ImportReport): string {
  return report.source || `import #${report.id}`;
}
