import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { RunDetail, RunSummary } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { navigate } from '../../app/router';
import { routeHash } from '../../app/routes';
import { useStudio, useToast } from '../../app/StudioProvider';
import { EmptyState, Loading } from '../../components/EmptyState';
import { ProgressBar } from '../../components/ProgressBar';
import { errorMessage } from '../../lib/errors';
import { formatCount, formatDateTime, formatInt } from '../../lib/format';
import { EvaluationPanel } from './EvaluationPanel';
import { MetricChart } from './MetricChart';
import { RunExportPanel } from './RunExportPanel';
import { RunLogPanel } from './RunLogPanel';
import { RunSamplesPanel } from './RunSamplesPanel';
import {
  etaSeconds,
  formatAccuracy,
  formatDuration,
  formatPercent,
  formatValue,
  isActive,
  isResumable,
  paramsPercent,
  secondsPerStep,
  specOf,
  flatten,
} from './runsModel';
import { useRunMetrics, type Series } from './useRunMetrics';

const METRICS = ['loss', 'val_accuracy', 'val_loss', 'lr', 'examples_per_s'] as const;

const EXTEND_HELP =
  'Adds this many steps to the budget. From the current step on, the learning rate follows the cosine over the new total ' +
  '(as if the run had been planned that long; warmup unchanged), so it rises a little and decays to the end again. ' +
  'A training run takes it at its next step; a stopped or finished run resumes from its last checkpoint.';

export function StatusBadge({ status, testId }: { status: RunSummary['status']; testId?: string }) {
  return (
    <span className={`run-status run-status-${status}`} data-testid={testId} data-status={status}>
      {status}
    </span>
  );
}

export function RunPage({ runId }: { runId: number }) {
  const client = useStudio();
  const toast = useToast();
  const [run, setRun] = useState<RunDetail | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [acting, setActing] = useState(false);
  usePageCrumbs([
    { label: 'Runs', href: '#/runs' },
    { label: run?.name ?? `Run ${runId}`, href: `#/runs/${runId}` },
  ]);

  const reload = useCallback(
    () =>
      client.api['runs.get']({ id: runId }).then(
        (detail) => {
          setRun(detail);
          setLoadError(null);
        },
        (e: unknown) => setLoadError(errorMessage(e)),
      ),
    [client, runId],
  );

  useEffect(() => {
    void reload();
    let last: string | null = null;
    return client.on('run.progress', (summary) => {
      if (summary.id !== runId) return;
      setRun((current) => (current ? { ...current, ...summary } : current));
      // Status changes bring new info (backend, parameter counts, error), a checkpoint or a raised
      // budget a new checkpoint list or config: fetch the detail again.
      const key = `${summary.status}:${summary.lastCheckpointStep}:${summary.totalSteps}`;
      if (key !== last) {
        last = key;
        void reload();
      }
    });
  }, [client, runId, reload]);

  const { series, version } = useRunMetrics(runId, METRICS);

  const [extendBy, setExtendBy] = useState('100');

  const act = async (action: 'runs.stop' | 'runs.resume' | 'runs.checkpoint' | 'extend') => {
    setActing(true);
    try {
      const summary =
        action === 'extend' ? await client.api['runs.extend']({ id: runId, steps: Number(extendBy) }) : await client.api[action]({ id: runId });
      setRun((current) => (current ? { ...current, ...summary } : current));
      if (action === 'runs.checkpoint') toast.info('A checkpoint will be saved after the current step.');
    } catch (e) {
      const what = { 'runs.stop': 'Stopping', 'runs.resume': 'Resuming', 'runs.checkpoint': 'Saving a checkpoint', extend: 'Extending' } as const;
      toast.error(e, what[action]);
    } finally {
      setActing(false);
    }
  };
  const extendValid = /^\d+$/.test(extendBy.trim()) && Number(extendBy) >= 1 && Number(extendBy) <= 1_000_000;

  if (loadError && !run) {
    return (
      <section className="page">
        <EmptyState title="Run not available" icon="▶">
          <p>{loadError}</p>
          <p>
            <a href="#/runs">Back to runs</a>
          </p>
        </EmptyState>
      </section>
    );
  }
  if (!run) return <Loading label="Loading run…" />;

  const spec = specOf(run.config);
  const batchSize = typeof spec.batchSize === 'number' ? spec.batchSize : null;
  const loss = series.loss!;
  const throughput = series.examples_per_s!;
  const lastThroughput = throughput.values.at(-1) ?? null;
  const eta = isActive(run.status)
    ? etaSeconds(run.totalSteps - run.step, secondsPerStep(pointsOf(loss)), lastThroughput, batchSize)
    : null;
  const pct = paramsPercent(run);

  return (
    <section className="page run-page" aria-labelledby="run-title">
      <header className="page-header run-header">
        <h1 id="run-title">{run.name}</h1>
        <StatusBadge status={run.status} testId="run-status" />
        <div className="run-actions">
          {isActive(run.status) ? (
            <button type="button" className="button" onClick={() => void act('runs.stop')} disabled={acting}>
              Stop
            </button>
          ) : null}
          {run.status === 'running' ? (
            <button type="button" className="button" onClick={() => void act('runs.checkpoint')} disabled={acting}>
              Save checkpoint now
            </button>
          ) : null}
          {isResumable(run.status) ? (
            <button type="button" className="button button-primary" onClick={() => void act('runs.resume')} disabled={acting}>
              Resume
            </button>
          ) : null}
          {run.status !== 'queued' ? (
            <span className="run-extend" title={EXTEND_HELP}>
              <label htmlFor="run-extend-steps" className="visually-hidden">
                Steps to add
              </label>
              <input
                id="run-extend-steps"
                className="input input-small"
                type="number"
                min="1"
                step="1"
                value={extendBy}
                onChange={(e) => setExtendBy(e.target.value)}
                aria-describedby="run-extend-help"
              />
              <button type="button" className="button" onClick={() => void act('extend')} disabled={acting || !extendValid}>
                Extend by {extendValid ? formatInt(Number(extendBy)) : 'N'} steps
              </button>
              <span id="run-extend-help" className="visually-hidden">
                {EXTEND_HELP}
              </span>
            </span>
          ) : null}
          {isActive(run.status) || run.task === 'diffusion' ? null : (
            <a className="button button-ghost" href={routeHash({ name: 'previews', source: { kind: 'run', id: run.id } })} title="Predict images with this run's model">
              Try it
            </a>
          )}
          <button type="button" className="button button-ghost" onClick={() => navigate({ name: 'runs', view: { kind: 'new' } })}>
            New run
          </button>
        </div>
      </header>

      {run.status === 'failed' || run.status === 'interrupted' ? (
        <div className={run.status === 'failed' ? 'callout callout-error' : 'callout'} role="alert" data-testid="run-error">
          <span>{run.error ?? (run.status === 'failed' ? 'The run failed.' : 'The run was interrupted.')}</span>
        </div>
      ) : null}

      <div className="run-progress">
        <ProgressBar done={run.step} total={run.totalSteps} label="Training progress" testId="run-progress" />
        <div className="run-progress-foot">
          <span>
            Step <span data-testid="run-step">{formatInt(run.step)} / {formatInt(run.totalSteps)}</span>
          </span>
          {isActive(run.status) ? <span data-testid="run-eta">ETA {formatDuration(eta)}</span> : null}
          {lastThroughput !== null ? <span>{lastThroughput.toFixed(1)} examples/s</span> : null}
        </div>
      </div>

      <dl className="run-facts">
        <div>
          <dt>Method</dt>
          <dd>
            <code>{run.method}</code>
          </dd>
        </div>
        <div>
          <dt>Trainable parameters</dt>
          <dd data-testid="run-params">
            {run.trainableParams !== null && run.totalParams !== null ? (
              <span title={`${formatInt(run.trainableParams)} of ${formatInt(run.totalParams)}`}>
                {formatCount(run.trainableParams)} of {formatCount(run.totalParams)} ({formatPercent(pct)})
              </span>
            ) : (
              <span className="muted">known once the run starts</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Backend</dt>
          <dd data-testid="run-backend" title={typeof run.info.backendReason === 'string' ? run.info.backendReason : undefined}>
            {run.backend ?? <span className="muted">—</span>}
          </dd>
        </div>
        <div>
          <dt>Last loss</dt>
          <dd>{run.lastLoss === null ? '—' : run.lastLoss.toFixed(4)}</dd>
        </div>
        {run.task === 'diffusion' ? (
          <div>
            <dt>Conditioning</dt>
            <dd data-testid="run-conditioning">{conditioningText(run.info.conditioning)}</dd>
          </div>
        ) : (
          <div>
            <dt>Val accuracy (best / last)</dt>
            <dd data-testid="run-accuracy">
              {formatAccuracy(run.bestValAccuracy)} / {formatAccuracy(run.lastValAccuracy)}
            </dd>
          </div>
        )}
        <div>
          <dt>Created</dt>
          <dd>{formatDateTime(run.createdAt)}</dd>
        </div>
        <div>
          <dt>Checkpoints</dt>
          <dd data-testid="run-checkpoints" data-latest={run.checkpoints[0]?.step ?? ''}>
            {run.checkpoints.length === 0 ? (
              <span className="muted">none yet</span>
            ) : (
              <span title={run.checkpoints.map((c) => `step ${c.step} · ${formatDateTime(c.createdAt)}`).join('\n')}>
                {run.checkpoints.length} · latest at step {formatInt(run.checkpoints[0]!.step)}
              </span>
            )}
          </dd>
        </div>
      </dl>

      <RunCharts series={series} version={version} samples={run.task === 'diffusion' ? <RunSamplesPanel runId={runId} /> : null} />

      {run.task === 'diffusion' ? null : <EvaluationPanel run={run} />}

      <RunExportPanel run={run} />

      <RunLogPanel runId={runId} />

      <details className="run-config">
        <summary>Configuration</summary>
        <ConfigTable config={spec} info={run.info} />
      </details>
    </section>
  );
}

/** The latest points of a series as (step, time), enough for step timing (not all 100k of a long run). */
const pointsOf = (s: Series, last = 60) => {
  const from = Math.max(0, s.steps.length - last);
  return s.steps.slice(from).map((step, i) => ({ step, time: s.times[from + i]! }));
};

/** How a diffusion run's data classes condition the model (from the worker's report). */
function conditioningText(conditioning: unknown): string {
  if (!Array.isArray(conditioning)) return 'known once the run starts';
  const classes = conditioning as { dataClass: string; modelClass: string | null }[];
  const mapped = classes.filter((c) => c.modelClass !== null).map((c) => (c.dataClass === c.modelClass ? c.dataClass : `${c.dataClass} → ${c.modelClass}`));
  const unconditional = classes.filter((c) => c.modelClass === null).map((c) => c.dataClass);
  return [
    mapped.length > 0 ? `class-conditional: ${mapped.join(', ')}` : null,
    unconditional.length > 0 ? `unconditional (not the model's classes): ${unconditional.join(', ')}` : null,
  ]
    .filter(Boolean)
    .join('; ');
}

/** Charts in a grid; a diffusion run's sample grids take the place of the accuracy chart, beside the loss. */
function RunCharts({ series, version, samples }: { series: Record<string, Series>; version: number; samples: ReactNode }) {
  const loss = series.loss!;
  const acc = series.val_accuracy!;
  const lr = series.lr!;
  const eps = series.examples_per_s!;
  const data = useMemo(
    () => ({
      loss: [loss.steps, loss.values] as [number[], (number | null)[]],
      acc: [acc.steps, acc.values] as [number[], (number | null)[]],
      lr: [lr.steps, lr.values] as [number[], (number | null)[]],
      eps: [eps.steps, eps.values] as [number[], (number | null)[]],
    }),
    [loss, acc, lr, eps],
  );
  const pctFmt = (v: number) => `${(v * 100).toFixed(0)}%`;
  return (
    <div className="chart-grid">
      <MetricChart title="Training loss" testId="chart-loss" data={data.loss} series={[{ label: 'loss' }]} version={version} />
      {samples ?? (
        <MetricChart
          title="Validation accuracy"
          testId="chart-accuracy"
          data={data.acc}
          series={[{ label: 'val accuracy', color: '#5fd39a' }]}
          version={version}
          format={pctFmt}
          yRange={[0, 1]}
        />
      )}
      <MetricChart
        title="Learning rate"
        testId="chart-lr"
        data={data.lr}
        series={[{ label: 'lr', color: '#f2c15f' }]}
        version={version}
        format={(v) => (v === 0 ? '0' : v.toExponential(1))}
      />
      <MetricChart
        title="Examples per second"
        testId="chart-throughput"
        data={data.eps}
        series={[{ label: 'examples/s', color: '#c792ea' }]}
        version={version}
      />
    </div>
  );
}

function ConfigTable({ config, info }: { config: Record<string, unknown>; info: Record<string, unknown> }) {
  const rows = Object.entries(flatten(config));
  const extra = ['trainSize', 'valSize', 'valSource', 'featureCache'].filter((k) => info[k] !== undefined);
  return (
    <table className="table table-compact config-table" aria-label="Configuration">
      <tbody>
        {rows.map(([key, value]) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>
              <code>{formatValue(value)}</code>
            </td>
          </tr>
        ))}
        {extra.map((key) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>
              <code>{formatValue(info[key])}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
