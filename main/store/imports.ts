import type { ImportIssue, ImportReport, ImportStatus } from '../../preload/api';
import type { Db } from './db';

interface ImportRow {
  id: number;
  dataset_id: number;
  job_id: string;
  source: string;
  status: ImportStatus;
  total: number;
  processed: number;
  added: number;
  duplicates: number;
  skipped: number;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

export interface ImportCounts {
  total: number;
  processed: number;
  added: number;
  duplicates: number;
  skipped: number;
}

export function createImportsRepo(db: Db) {
  const insert = db.prepare<[number, string, string], { id: number }>(
    "INSERT INTO imports (dataset_id, job_id, source, status) VALUES (?, ?, ?, 'running') RETURNING id",
  );
  const get = db.prepare<[number], ImportRow>('SELECT * FROM imports WHERE id = ?');
  const list = db.prepare<[number], ImportRow>('SELECT * FROM imports WHERE dataset_id = ? ORDER BY id DESC');
  const issues = db.prepare<[number], ImportIssue>('SELECT path, reason FROM import_issues WHERE import_id = ? ORDER BY id');
  const addIssue = db.prepare<[number, string, string]>('INSERT INTO import_issues (import_id, path, reason) VALUES (?, ?, ?)');
  const progress = db.prepare<[number, number, number, number, number, number]>(
    'UPDATE imports SET total = ?, processed = ?, added = ?, duplicates = ?, skipped = ? WHERE id = ?',
  );
  const finish = db.prepare<[ImportStatus, string | null, number]>(
    "UPDATE imports SET status = ?, error = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
  );
  const markInterrupted = db.prepare(
    "UPDATE imports SET status = 'failed', error = 'The studio stopped during this import; images imported before that were kept.', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE status = 'running'",
  );

  const toReport = (row: ImportRow): ImportReport => ({
    id: row.id,
    datasetId: row.dataset_id,
    jobId: row.job_id,
    source: row.source,
    status: row.status,
    total: row.total,
    processed: row.processed,
    added: row.added,
    duplicates: row.duplicates,
    skipped: row.skipped,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    issues: issues.all(row.id),
  });

  return {
    start: (datasetId: number, jobId: string, source: string): number => insert.get(datasetId, jobId, source)!.id,
    get: (id: number): ImportReport | undefined => {
      const row = get.get(id);
      return row && toReport(row);
    },
    list: (datasetId: number): ImportReport[] => list.all(datasetId).map(toReport),
    addIssue: (importId: number, path: string, reason: string): void => void addIssue.run(importId, path, reason),
    saveProgress: (importId: number, c: ImportCounts): void =>
      void progress.run(c.total, c.processed, c.added, c.duplicates, c.skipped, importId),
    finish: (importId: number, status: Exclude<ImportStatus, 'running'>, error: string | null = null): void =>
      void finish.run(status, error, importId),
    /** At start-up no import can be running: any left so is from a studio that died mid-import. */
    failInterrupted: (): number => markInterrupted.run().changes,
  };
}

export type ImportsRepo = ReturnType<typeof createImportsRepo>;
