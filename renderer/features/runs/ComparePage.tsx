import { useEffect, useMemo, useState } from 'react';
import uPlot from 'uplot';
import { CHART_POINTS, type MetricPointOut, type RunDetail } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { useStudio } from '../../app/StudioProvider';
import { Loading } from '../../components/EmptyState';
import { errorMessage } from '../../lib/errors';
import { formatCount, formatInt } from '../../lib/format';
import { MetricChart, SERIES_COLORS } from './MetricChart';
import { StatusBadge } from './RunPage';
import { diffConfigs, formatAccuracy, formatPercent, formatValue, paramsPercent, specOf } from './runsModel';

interface Compared {
  run: RunDetail;
  loss: MetricPointOut[];
  accuracy: MetricPointOut[];
}

/** While compared runs train, the curves refresh at most this often. */
const REFRESH_MS = 1000;

export function ComparePage({ runIds: given }: { runIds: number[] }) {
  const idsKey = given.join(',');
  const runIds = useMemo(() => idsKey.split(',').map(Number), [idsKey]);
  usePageCrumbs([
    { label: 'Runs', href: '#/runs' },
    { label: `Compare ${runIds.length} runs`, href: `#/runs/compare/${runIds.join(',')}` },
  ]);
  const client = useStudio();
  const [items, setItems] = useState<Compared[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let alive = true;
    let timer: number | null = null;
    const load = async () => {
      try {
        const loaded = await Promise.all(
          runIds.map(async (id) => {
            const [run, loss, accuracy] = await Promise.all([
              client.api['runs.get']({ id }),
              client.api['runs.metrics']({ id, name: 'loss', afterStep: -1, maxPoints: CHART_POINTS }),
              client.api['runs.metrics']({ id, name: 'val_accuracy', afterStep: -1, maxPoints: CHART_POINTS }),
            ]);
            return { run, loss, accuracy };
          }),
        );
        if (!alive) return;
        setItems(loaded);
        setVersion((v) => v + 1);
        setError(null);
      } catch (e) {
        if (alive) setError(errorMessage(e));
      }
    };
    void load();
    const off = client.on('run.progress', (run) => {
      if (!runIds.includes(run.id) || timer !== null) return;
      timer = window.setTimeout(() => {
        timer = null;
        void load();
      }, REFRESH_MS);
    });
    return () => {
      alive = false;
      off();
      if (timer !== null) window.clearTimeout(timer);
    };
  }, [client, runIds]);

  const charts = useMemo(() => {
    if (!items) return null;
    const join = (pick: (c: Compared) => MetricPointOut[]) =>
      uPlot.join(items.map((c) => [pick(c).map((p) => p.step), pick(c).map((p) => p.value)] as uPlot.AlignedData));
    return { loss: join((c) => c.loss), accuracy: join((c) => c.accuracy) };
  }, [items]);

  if (error && !items) {
    return (
      <section className="page">
        <div className="callout callout-error" role="alert">
          <span>Could not load the runs to compare: {error}</span>
        </div>
      </section>
    );
  }
  if (!items || !charts) return <Loading label="Loading runs…" />;

  const series = items.map((c, i) => ({ label: c.run.name, color: SERIES_COLORS[i % SERIES_COLORS.length] }));
  const rows = diffConfigs(items.map((c) => ({ method: c.run.method, datasetId: c.run.datasetId, modelId: c.run.modelId, ...specOf(c.run.config) })));
  const differing = rows.filter((r) => r.differs).length;

  return (
    <section className="page compare-page" aria-labelledby="compare-title" data-testid="compare-view">
      <header className="page-header">
        <h1 id="compare-title">Compare runs</h1>
        <span className="page-meta">{plural(items.length)}</span>
      </header>

      <ul className="compare-legend" aria-label="Compared runs">
        {items.map((c, i) => (
          <li key={c.run.id} data-testid="compare-run">
            <span className="chip-dot" style={{ background: series[i]!.color }} aria-hidden="true" />
            <a href={`#/runs/${c.run.id}`}>{c.run.name}</a> <StatusBadge status={c.run.status} />
          </li>
        ))}
      </ul>

      <div className="chart-grid chart-grid-2">
        <MetricChart title="Training loss" testId="chart-compare-loss" data={charts.loss} series={series} version={version} height={260} />
        <MetricChart
          title="Validation accuracy"
          testId="chart-compare-accuracy"
          data={charts.accuracy}
          series={series}
          version={version}
          height={260}
          format={(v) => `${(v * 100).toFixed(0)}%`}
          yRange={[0, 1]}
        />
      </div>

      <h2 className="section-title">Results</h2>
      <div className="table-wrap">
        <table className="table table-compact compare-table" aria-label="Results">
          <thead>
            <tr>
              <th scope="col">Run</th>
              {items.map((c) => (
                <th scope="col" key={c.run.id}>
                  {c.run.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <ResultRow label="Best val accuracy" items={items} cell={(c) => formatAccuracy(c.run.bestValAccuracy)} />
            <ResultRow label="Last val accuracy" items={items} cell={(c) => formatAccuracy(c.run.lastValAccuracy)} />
            <ResultRow label="Last loss" items={items} cell={(c) => (c.run.lastLoss === null ? '—' : c.run.lastLoss.toFixed(4))} />
            <ResultRow
              label="Trainable params"
              items={items}
              cell={(c) => (c.run.trainableParams === null ? '—' : `${formatCount(c.run.trainableParams)} (${formatPercent(paramsPercent(c.run))})`)}
            />
            <ResultRow label="Steps" items={items} cell={(c) => `${formatInt(c.run.step)} / ${formatInt(c.run.totalSteps)}`} />
            <ResultRow label="Backend" items={items} cell={(c) => c.run.backend ?? '—'} />
          </tbody>
        </table>
      </div>

      <h2 className="section-title">
        Hyper-parameters <span className="muted">({differing === 0 ? 'all equal' : `${differing} differ`})</span>
      </h2>
      <div className="table-wrap">
        <table className="table table-compact compare-table" aria-label="Hyper-parameters" data-testid="compare-config">
          <thead>
            <tr>
              <th scope="col">Setting</th>
              {items.map((c) => (
                <th scope="col" key={c.run.id}>
                  {c.run.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.key} data-key={row.key} className={row.differs ? 'diff-row' : undefined} data-differs={row.differs ? 'true' : 'false'}>
                <th scope="row">
                  {row.key}
                  {row.differs ? <span className="visually-hidden"> (differs)</span> : null}
                </th>
                {row.values.map((value, i) => (
                  <td key={items[i]!.run.id}>
                    <code>{formatValue(value)}</code>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const plural = (n: number) => (n === 1 ? '1 run' : `${n} runs`);

function ResultRow({ label, items, cell }: { label: string; items: Compared[]; cell(c: Compared): string }) {
  return (
    <tr>
      <th scope="row">{label}</th>
      {items.map((c) => (
        <td key={c.run.id}>{cell(c)}
        </td>
      ))}
    </tr>
  );
}
