/**
 * Train/val/test splits: the "Make splits" form (stratified and seeded on the studio's side),
 * images per split, and per class a stacked bar of how its images fall into the splits.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ClassSplitCounts, DatasetDetail, Split } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { messageFor } from '../../lib/errors';
import { formatInt, percent } from '../../lib/format';

const SPLITS: (Split | 'none')[] = ['train', 'val', 'test', 'none'];
const SPLIT_LABEL: Record<Split | 'none', string> = { train: 'train', val: 'val', test: 'test', none: 'no split' };

type Row = { key: string; name: string; color: string; counts: Record<Split | 'none', number> };

/** The chart waits for labeling to pause: a burst of keystrokes asks for the matrix once. */
const CHART_DELAY_MS = 400;

export function SplitsPanel({ datasetId, detail, onChanged }: { datasetId: number; detail: DatasetDetail; onChanged(): Promise<void> | void }) {
  const client = useStudio();
  const toast = useToast();
  const [ratios, setRatios] = useState({ train: '80', val: '10', test: '10' });
  const [seed, setSeed] = useState('0');
  const [reassign, setReassign] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const numbers = { train: Number(ratios.train), val: Number(ratios.val), test: Number(ratios.test) };
  const sum = numbers.train + numbers.val + numbers.test;
  const valid = [numbers.train, numbers.val, numbers.test].every((n) => Number.isFinite(n) && n >= 0) && Math.abs(sum - 100) < 1e-6;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const counts = await client.api['splits.make']({
        datasetId,
        train: numbers.train / 100,
        val: numbers.val / 100,
        test: 1 - numbers.train / 100 - numbers.val / 100,
        seed: Math.trunc(Number(seed) || 0),
        reassign,
      });
      toast.info(`Splits: ${formatInt(counts.train)} train, ${formatInt(counts.val)} val, ${formatInt(counts.test)} test.`);
      await onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  // Per class × split counts: one grouped query on the studio's side, asked again when the
  // dataset's counts change and labeling has paused (the first time at once).
  const [classSplits, setClassSplits] = useState<ClassSplitCounts[] | null>(null);
  const loaded = useRef(false);
  const countsKey = JSON.stringify([detail.splitCounts, detail.unlabeledCount, detail.classes.map((c) => [c.id, c.imageCount])]);
  useEffect(() => {
    let live = true;
    const timer = window.setTimeout(
      () =>
        client.api['datasets.classSplits']({ id: datasetId }).then(
          (value) => {
            if (!live) return;
            loaded.current = true;
            setClassSplits(value);
          },
          () => {},
        ),
      loaded.current ? CHART_DELAY_MS : 0,
    );
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [client, datasetId, countsKey]);
  const countsOf = new Map((classSplits ?? []).map((group) => [group.classId, group.counts]));
  const none = { train: 0, val: 0, test: 0, none: 0 };
  const rows: Row[] = classSplits === null ? [] : [
    ...detail.classes.map((c) => ({ key: String(c.id), name: c.name, color: c.color, counts: countsOf.get(c.id) ?? none })),
    ...(detail.unlabeledCount > 0 ? [{ key: 'unlabeled', name: 'unlabeled', color: '#6b7385', counts: countsOf.get(null) ?? none }] : []),
  ];

  const field = (name: 'train' | 'val' | 'test') => (
    <label className="split-field">
      <span>{name}</span>
      <input
        className="input input-small"
        type="number"
        min={0}
        max={100}
        step={1}
        data-testid={`split-${name}`}
        value={ratios[name]}
        onChange={(e) => setRatios((r) => ({ ...r, [name]: e.target.value }))}
      />
      <span className="muted">%</span>
    </label>
  );

  const message = messageFor(error, 'train');
  const max = Math.max(1, ...rows.map((r) => SPLITS.reduce((n, s) => n + r.counts[s], 0)));
  return (
    <section className="panel splits-panel" aria-labelledby="splits-title">
      <h2 id="splits-title" className="panel-title">
        Splits
      </h2>
      <dl className="split-counts">
        {SPLITS.map((s) => (
          <div key={s} className={`split-count split-count-${s}`}>
            <dt>{SPLIT_LABEL[s]}</dt>
            <dd data-testid={`split-count-${s}`}>{formatInt(detail.splitCounts[s])}</dd>
          </div>
        ))}
      </dl>

      <form className="split-form" onSubmit={submit} noValidate>
        <div className="split-ratios">
          {field('train')}
          {field('val')}
          {field('test')}
        </div>
        <div className="split-options">
          <label className="split-field">
            <span>seed</span>
            <input className="input input-small" type="number" min={0} step={1} data-testid="split-seed" value={seed} onChange={(e) => setSeed(e.target.value)} />
          </label>
          <label className="split-check">
            <input type="checkbox" data-testid="split-reassign" checked={reassign} onChange={(e) => setReassign(e.target.checked)} /> reassign all (keeps manual choices)
          </label>
        </div>
        {!valid ? <p className="field-error">The three shares must add up to 100 (now {Number.isFinite(sum) ? sum : '?'}).</p> : null}
        {message ? <p className="field-error">{message}</p> : null}
        <button type="submit" className="button button-small button-primary" data-testid="split-make" disabled={!valid || busy || detail.imageCount === 0}>
          {busy ? 'Splitting…' : 'Make splits'}
        </button>
        <p className="muted split-note">Stratified per class and seeded; images that already have a split keep it unless you reassign.</p>
      </form>

      <div className="split-chart" aria-label="Images per class and split">
        <div className="split-legend" aria-hidden="true">
          {SPLITS.map((s) => (
            <span key={s} className="split-legend-item">
              <span className={`split-swatch split-fill-${s}`} />
              {SPLIT_LABEL[s]}
            </span>
          ))}
        </div>
        {classSplits === null ? <p className="muted">Counting…</p> : null}
        <ul className="split-rows">
          {rows.map((row) => {
            const total = SPLITS.reduce((n, s) => n + row.counts[s], 0);
            let x = 0;
            return (
              <li key={row.key} className="split-row" data-testid={`split-row-${row.name}`}>
                <span className="class-swatch" style={{ background: row.color }} aria-hidden="true" />
                <span className="class-name" title={row.name}>
                  {row.name}
                </span>
                <svg className="split-bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label={`${row.name}: ${SPLITS.map((s) => `${row.counts[s]} ${SPLIT_LABEL[s]}`).join(', ')}`}>
                  {SPLITS.map((s) => {
                    const w = percent(row.counts[s], max);
                    const rect = <rect key={s} className={`split-fill-${s}`} x={x} y={0} width={w} height={8} />;
                    x += w;
                    return rect;
                  })}
                </svg>
                <span className="split-numbers">
                  {SPLITS.map((s) => (
                    <span key={s} className={`split-num split-num-${s}`} title={SPLIT_LABEL[s]} data-testid={`split-class-count-${row.name}-${s}`}>
                      {formatInt(row.counts[s])}
                    </span>
                  ))}
                  <span className="visually-hidden">of {formatInt(total)}</span>
                </span>
              </li>
            );
          })}
        </ul>
      </div>
    </section>
  );
}
