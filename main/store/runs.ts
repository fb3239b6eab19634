import type { MetricSummary, RunPreview, RunStatus } from '../../preload/api';
import type { Db } from './db';


export interface RunRow {
  id: number;
  name: string;
  datasetId: number | null;
  modelId: number | null;
  method: string;
  config: unknown;
  /** What the worker reported: backend, parameter counts, final summary. */
  info: Record<string, unknown>;
  status: RunStatus;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface MetricPoint {
  name: string;
  context?: string;
  step: number;
  value: number;
  time: number;
}


interface RawRun {
  id: number;
  name: string;
  dataset_id: number | null;
  model_id: number | null;
  method: string;
  config_json: string;
  info_json: string;
  status: RunStatus;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const toRun = (r: RawRun): RunRow => ({
  id: r.id,
  name: r.name,
  datasetId: r.dataset_id,
  modelId: r.model_id,
  method: r.method,
  config: JSON.parse(r.config_json),
  info: JSON.parse(r.info_json) as Record<string, unknown>,
  status: r.status,
  error: r.error,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/**
 * Runs and their metrics. Metric points are append-only per (run, name, context, step); the summary
 * row is updated in the same transaction, so run tables read summaries and never scan series.
 * Re-sending a point (a resumed worker replaying a step) replaces it rather than duplicating it.
 */
export function createRunsRepo(db: Db) {
  const insert = db.prepare<[string, number | null, number | null, string, string], { id: number }>(
    "INSERT INTO runs (name, dataset_id, model_id, method, config_json, status) VALUES (?, ?, ?, ?, ?, 'queued') RETURNING id",
  );
  const get = db.prepare<[number], RawRun>('SELECT * FROM runs WHERE id = ?');
  const list = db.prepare<[], RawRun>('SELECT * FROM runs ORDER BY id DESC');
  const setStatus = db.prepare<[RunStatus, string | null, RunStatus, RunStatus, number]>(`
    UPDATE runs SET status = ?, error = ?,
      started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, ${NOW}) ELSE started_at END,
      finished_at = CASE WHEN ? IN ('done', 'failed', 'stopped', 'interrupted') THEN ${NOW} ELSE NULL END
    WHERE id = ?`);
  const setConfig = db.prepare<[string, number]>('UPDATE runs SET config_json = ? WHERE id = ?');
  const mergeInfo = db.prepare<[string, number]>('UPDATE runs SET info_json = json_patch(info_json, ?) WHERE id = ?');
  const interruptRunning = db.prepare(
    `UPDATE runs SET status = 'interrupted', error = 'The studio stopped while this run was training; resume it from its last checkpoint.', finished_at = ${NOW} WHERE status IN ('running', 'queued')`,
  );
  const upsertPoint = db.prepare<[number, string, string, number, number | null, number, number]>(`
    INSERT INTO metric_points (run_id, name, context, step, value, is_nan, time) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, name, context, step) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, time = excluded.time`);
  const refreshSummary = db.prepare<[number, string, string]>(`
    INSERT OR REPLACE INTO metric_summaries (run_id, name, context, last, min, max, last_step, count)
    SELECT run_id, name, context,
      (SELECT value FROM metric_points p2 WHERE p2.run_id = p.run_id AND p2.name = p.name AND p2.context = p.context ORDER BY step DESC LIMIT 1),
      MIN(value), MAX(value), MAX(step), COUNT(*)
    FROM metric_points p WHERE run_id = ? AND name = ? AND context = ? GROUP BY run_id, name, context`);
  const summaries = db.prepare<[number], { name: string; context: string; last: number | null; min: number | null; max: number | null; last_step: number; count: number }>(
    'SELECT name, context, last, min, max, last_step, count FROM metric_summaries WHERE run_id = ? ORDER BY name, context',
  );
  const series = db.prepare<[number, string, string, number], { step: number; value: number | null; time: number }>(
    'SELECT step, value, time FROM metric_points WHERE run_id = ? AND name = ? AND context = ? AND step > ? ORDER BY step',
  );
  const seriesExtent = db.prepare<[number, string, string, number], { n: number; first: number | null; last: number | null }>(
    'SELECT COUNT(*) AS n, MIN(step) AS first, MAX(step) AS last FROM metric_points WHERE run_id = ? AND name = ? AND context = ? AND step > ?',
  );
  // Per bucket of steps, the point with the lowest and the one with the highest value (SQLite
  // takes a bare column from the row that MIN/MAX picked), plus the first and last point: a line
  // drawn through them shows every spike and the true end of the curve.
  const seriesBuckets = db.prepare<[number, number, number, string, string, number], { step: number; value: number | null; time: number }>(`
    WITH p AS (
      SELECT step, value, time, CAST((step - ?) / ? AS INTEGER) AS bucket
      FROM metric_points WHERE run_id = ? AND name = ? AND context = ? AND step > ?
    )
    SELECT step, value, time FROM (
      SELECT step, MIN(value) AS value, time FROM p GROUP BY bucket
      UNION SELECT step, MAX(value) AS value, time FROM p GROUP BY bucket
      UNION SELECT step, value, time FROM p WHERE step = (SELECT MIN(step) FROM p) OR step = (SELECT MAX(step) FROM p)
    ) ORDER BY step`);
  const addCheckpoint = db.prepare<[number, number, string, string]>(
    'INSERT OR REPLACE INTO checkpoints (run_id, step, path, sha256) VALUES (?, ?, ?, ?)',
  );
  const latestCheckpoint = db.prepare<[number], { step: number; path: string; sha256: string }>(
    'SELECT step, path, sha256 FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1',
  );
  const checkpoints = db.prepare<[number], { step: number; created_at: string }>(
    'SELECT step, created_at FROM checkpoints WHERE run_id = ? ORDER BY step DESC',
  );

  const addPreview = db.prepare<[number, number, number, string, string]>(
    'INSERT OR REPLACE INTO run_previews (run_id, step, idx, hash, class_name) VALUES (?, ?, ?, ?, ?)',
  );
  const previews = db.prepare<[number], { step: number; idx: number; hash: string; class_name: string }>(
    'SELECT step, idx, hash, class_name FROM run_previews WHERE run_id = ? ORDER BY step, idx',
  );
  const previewHash = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM run_previews WHERE hash = ? LIMIT 1');
  const addPreviews = db.transaction((runId: number, items: readonly RunPreview[]) => {
    for (const p of items) addPreview.run(runId, p.step, p.index, p.hash, p.className);
  });

  const appendMetrics = db.transaction((runId: number, points: readonly MetricPoint[]) => {
    const touched = new Set<string>();
    for (const p of points) {
      const context = p.context ?? '';
      const finite = Number.isFinite(p.value);
      upsertPoint.run(runId, p.name, context, p.step, finite ? p.value : null, finite ? 0 : 1, p.time);
      touched.add(JSON.stringify([p.name, context]));
    }
    for (const key of touched) {
      const [name, context] = JSON.parse(key) as [string, string];
      refreshSummary.run(runId, name, context);
    }
  });

  return {
    create: (name: string, datasetId: number | null, modelId: number | null, method: string, config: unknown): number =>
      insert.get(name, datasetId, modelId, method, JSON.stringify(config))!.id,
    get: (id: number): RunRow | undefined => {
      const row = get.get(id);
      return row && toRun(row);
    },
    list: (): RunRow[] => list.all().map(toRun),
    setStatus: (id: number, status: RunStatus, error: string | null = null): void =>
      void setStatus.run(status, error, status, status, id),
    setConfig: (id: number, config: unknown): void => void setConfig.run(JSON.stringify(config), id),
    /** Merges fields into the run's info (JSON merge patch). */
    mergeInfo: (id: number, info: Record<string, unknown>): void => void mergeInfo.run(JSON.stringify(info), id),
    /** At start-up no worker is alive: runs left running belong to a studio that died. */
    interruptRunning: (): number => interruptRunning.run().changes,
    appendMetrics: (runId: number, points: readonly MetricPoint[]): void => appendMetrics(runId, points),
    summaries: (runId: number): MetricSummary[] =>
      summaries.all(runId).map((s) => ({ name: s.name, context: s.context, last: s.last, min: s.min, max: s.max, lastStep: s.last_step, count: s.count })),
    /** Points after `afterStep`, so a chart fetches only what it lacks. */
    series: (runId: number, name: string, context = '', afterStep = -1) => series.all(runId, name, context, afterStep),
    /**
     * The same points, or when there are more than `maxPoints`, at most about that many: the lowest
     * and highest of each of maxPoints/2 equal step ranges, and the first and last point.
     */
    seriesWithin(runId: number, name: string, context: string, afterStep: number, maxPoints: number) {
      const { n, first, last } = seriesExtent.get(runId, name, context, afterStep)!;
      if (n <= maxPoints || first === null || last === null) return series.all(runId, name, context, afterStep);
      const buckets = Math.max(1, Math.floor((maxPoints - 2) / 2));
      return seriesBuckets.all(first, (last - first + 1) / buckets, runId, name, context, afterStep);
    },
    addCheckpoint: (runId: number, step: number, path: string, sha256: string): void => void addCheckpoint.run(runId, step, path, sha256),
    latestCheckpoint: (runId: number) => latestCheckpoint.get(runId),
    /** Newest first. */
    checkpoints: (runId: number) => checkpoints.all(runId).map((c) => ({ step: c.step, createdAt: c.created_at })),
    /** One sample grid (a grid stored again, as a resume replays a step, replaces the old one). */
    addPreviews: (runId: number, items: readonly RunPreview[]): void => addPreviews(runId, items),
    /** Step order (the base model's step 0 first), then sample index. */
    previews: (runId: number): RunPreview[] => previews.all(runId).map((p) => ({ step: p.step, index: p.idx, hash: p.hash, className: p.class_name })),
    isPreviewHash: (hash: string): boolean => previewHash.get(hash) !== undefined,
  };
}

export type RunsRepo = ReturnType<typeof createRunsRepo>;
