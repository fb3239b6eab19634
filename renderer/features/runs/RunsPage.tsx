import { useEffect, useMemo, useState } from 'react';
import type { RunStatus, RunSummary } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { navigate, useRoute } from '../../app/router';
import { useStudio } from '../../app/StudioProvider';
import { EmptyState, Loading } from '../../components/EmptyState';
import { errorMessage } from '../../lib/errors';
import { formatDateTime, formatInt, plural } from '../../lib/format';
import { ComparePage } from './ComparePage';
import './runs.css';
import { NewRunPage } from './NewRunPage';
import { RunPage, StatusBadge } from './RunPage';
import { MakeSoup } from './SoupPanel';
import {
  filterRuns,
  formatAccuracy,
  formatPercent,
  paramsPercent,
  sortRuns,
  upsertRun,
  type RunFilter,
  type Sort,
  type SortKey,
} from './runsModel';

/** The runs section: the table, or one of its views (#/runs/new, #/runs/7, #/runs/compare/3,7). */
export function RunsPage() {
  const route = useRoute();
  const view = route.name === 'runs' ? route.view : undefined;
  if (view?.kind === 'new') return <NewRunPage />;
  if (view?.kind === 'run') return <RunPage key={view.id} runId={view.id} />;
  if (view?.kind === 'compare') return <ComparePage key={view.ids.join(',')} runIds={view.ids} />;
  return <RunsTable />;
}

const STATUSES: RunStatus[] = ['queued', 'running', 'done', 'stopped', 'failed', 'interrupted'];

const COLUMNS: { key: SortKey; label: string; num?: boolean }[] = [
  { key: 'name', label: 'Name' },
  { key: 'method', label: 'Method' },
  { key: 'params', label: 'Params', num: true },
  { key: 'best', label: 'Best val acc', num: true },
  { key: 'last', label: 'Last val acc', num: true },
  { key: 'step', label: 'Step', num: true },
  { key: 'status', label: 'Status' },
  { key: 'created', label: 'Created' },
];

function RunsTable() {
  usePageCrumbs([{ label: 'Runs', href: '#/runs' }]);
  const client = useStudio();
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [sort, setSort] = useState<Sort>({ key: 'created', dir: 'desc' });
  const [filter, setFilter] = useState<RunFilter>({ status: '', method: '' });
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());

  useEffect(() => {
    let alive = true;
    client.api['runs.list']({}).then(
      (list) => {
        if (!alive) return;
        setRuns(list);
        setError(null);
      },
      (e: unknown) => alive && setError(errorMessage(e)),
    );
    const off = client.on('run.progress', (run) => setRuns((list) => (list ? upsertRun(list, run) : list)));
    return () => {
      alive = false;
      off();
    };
  }, [client, attempt]);

  const methods = useMemo(() => [...new Set((runs ?? []).map((r) => r.method))].sort(), [runs]);
  const shown = useMemo(() => sortRuns(filterRuns(runs ?? [], filter), sort), [runs, filter, sort]);
  const chosen = (runs ?? []).filter((r) => selected.has(r.id)).map((r) => r.id);

  const toggle = (id: number) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const sortBy = (key: SortKey) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: key === 'name' || key === 'method' ? 'asc' : 'desc' }));

  return (
    <section className="page" aria-labelledby="runs-title">
      <header className="page-header">
        <h1 id="runs-title">Runs</h1>
        {runs && runs.length > 0 ? <span className="page-meta">{plural(runs.length, 'run')}</span> : null}
        <div className="run-actions">
          <MakeSoup runs={(runs ?? []).filter((r) => selected.has(r.id))} />
          <button
            type="button"
            className="button"
            disabled={chosen.length < 2}
            title={chosen.length < 2 ? 'Select two or more runs to compare them' : undefined}
            onClick={() => navigate({ name: 'runs', view: { kind: 'compare', ids: chosen } })}
          >
            Compare{chosen.length >= 2 ? ` (${chosen.length})` : ''}
          </button>
          <button type="button" className="button button-primary" onClick={() => navigate({ name: 'runs', view: { kind: 'new' } })}>
            New run
          </button>
        </div>
      </header>

      {error ? (
        <div className="callout callout-error" role="alert">
          <span>Could not list runs: {error}</span>
          <button type="button" className="button" onClick={() => setAttempt((n) => n + 1)}>
            Retry
          </button>
        </div>
      ) : runs === null ? (
        <Loading label="Loading runs…" />
      ) : runs.length === 0 ? (
        <EmptyState title="No training runs" icon="▶">
          <p>A run fine-tunes an imported model on a labelled dataset with a PEFT method.</p>
          <p>
            <button type="button" className="button button-primary" onClick={() => navigate({ name: 'runs', view: { kind: 'new' } })}>
              Start a run
            </button>
          </p>
        </EmptyState>
      ) : (
        <>
          <div className="runs-filters" role="group" aria-label="Filter runs">
            <label>
              Status{' '}
              <select className="input input-small" value={filter.status} onChange={(e) => setFilter((f) => ({ ...f, status: e.target.value as RunStatus | '' }))}>
                <option value="">any</option>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Method{' '}
              <select className="input input-small" value={filter.method} onChange={(e) => setFilter((f) => ({ ...f, method: e.target.value }))}>
                <option value="">any</option>
                {methods.map((m) => (
                  <option key={m} value={m}>
                    {m}
                  </option>
                ))}
              </select>
            </label>
            <span className="muted">
              {shown.length === runs.length ? '' : `${formatInt(shown.length)} of ${formatInt(runs.length)} shown · `}
              {chosen.length > 0 ? `${chosen.length} selected` : 'Select runs to compare them'}
            </span>
          </div>
          <div className="table-wrap">
            <table className="table runs-table" aria-label="Runs">
              <thead>
                <tr>
                  <th scope="col" className="select-cell">
                    <span className="visually-hidden">Select</span>
                  </th>
                  {COLUMNS.map((c) => (
                    <th
                      key={c.key}
                      scope="col"
                      className={c.num ? 'num' : undefined}
                      aria-sort={sort.key === c.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : undefined}
                    >
                      <button type="button" className="sort-button" onClick={() => sortBy(c.key)}>
                        {c.label}
                        <span aria-hidden="true" className="sort-mark">
                          {sort.key === c.key ? (sort.dir === 'asc' ? '▲' : '▼') : ''}
                        </span>
                      </button>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {shown.map((run) => (
                  <tr
                    key={run.id}
                    data-testid="run-row"
                    data-run-id={run.id}
                    className={selected.has(run.id) ? 'run-row run-row-selected' : 'run-row'}
                    onClick={(event) => {
                      const target = event.target as HTMLElement;
                      if (target.closest('input, a, button, label')) return;
                      navigate({ name: 'runs', view: { kind: 'run', id: run.id } });
                    }}
                  >
                    <td className="select-cell">
                      <input type="checkbox" checked={selected.has(run.id)} onChange={() => toggle(run.id)} aria-label={`Select ${run.name}`} />
                    </td>
                    <th scope="row">
                      <a href={`#/runs/${run.id}`}>{run.name}</a>
                    </th>
                    <td>
                      <code>{run.method}</code>
                    </td>
                    <td className="num">{formatPercent(paramsPercent(run))}</td>
                    <td className="num">{formatAccuracy(run.bestValAccuracy)}</td>
                    <td className="num">{formatAccuracy(run.lastValAccuracy)}</td>
                    <td className="num">
                      {formatInt(run.step)} / {formatInt(run.totalSteps)}
                    </td>
                    <td>
                      <StatusBadge status={run.status} />
                    </td>
                    <td>{formatDateTime(run.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
