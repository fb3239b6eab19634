import { useMemo, useState } from 'react';
import type { EvaluationPrediction, EvaluationSplit, RunDetail, RunEvaluation } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';
import { errorMessage } from '../../lib/errors';
import { formatInt } from '../../lib/format';
import { byPredictedClass } from '../labeling/selection';
import { useRelabel, type Relabel } from '../labeling/useRelabel';
import { formatAccuracy } from './runsModel';

const SPLITS: { value: EvaluationSplit; label: string }[] = [
  { value: 'val', label: 'Validation (the run’s held-out images)' },
  { value: 'test', label: 'Test split of the dataset' },
  { value: 'all', label: 'Validation + test' },
];

/** How many images each gallery shows at most. */
const GALLERY = 24;

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);

/** Cell selection: a confusion-matrix cell, or one of the galleries. */
type Selection = { kind: 'cell'; label: number; pred: number } | null;

/**
 * Evaluate a finished run on its validation images or the dataset's test split: accuracy,
 * per-class precision/recall, a confusion-matrix heatmap whose cells open the images behind
 * them, and galleries of misclassified and least-confident images. Images in the galleries can be
 * selected and relabeled with the dataset's class hotkeys (the same undoable labels.set as the
 * dataset page), or given the class the model predicted.
 */
export function EvaluationPanel({ run }: { run: RunDetail }) {
  const client = useStudio();
  const [split, setSplit] = useState<EvaluationSplit>('val');
  const [result, setResult] = useState<RunEvaluation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [selection, setSelection] = useState<Selection>(null);
  const finished = run.status === 'done' || run.status === 'stopped' || run.status === 'failed' || run.status === 'interrupted' || run.status === 'paused';

  const evaluate = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await client.api['runs.evaluate']({ id: run.id, split }));
      setSelection(null);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel eval-panel" aria-labelledby="eval-title" data-testid="eval-panel">
      <header className="eval-header">
        <h2 id="eval-title" className="panel-title">
          Evaluate
        </h2>
        <label className="eval-split">
          <span className="muted">Images</span>
          <select className="input" value={split} onChange={(e) => setSplit(e.target.value as EvaluationSplit)} data-testid="eval-split">
            {SPLITS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          className="button button-primary"
          onClick={() => void evaluate()}
          disabled={busy || !finished}
          title={finished ? undefined : 'Evaluate once the run has finished or stopped'}
          data-testid="eval-run"
        >
          {busy ? 'Evaluating…' : 'Evaluate'}
        </button>
      </header>
      {error ? (
        <div className="callout callout-error" role="alert" data-testid="eval-error">
          <span>{error}</span>
        </div>
      ) : null}
      {result ? <EvaluationResult result={result} datasetId={run.datasetId} selection={selection} onSelect={setSelection} /> : null}
    </section>
  );
}

function EvaluationResult({
  result,
  datasetId,
  selection,
  onSelect,
}: {
  result: RunEvaluation;
  datasetId: number | null;
  selection: Selection;
  onSelect: (s: Selection) => void;
}) {
  const relabel = useRelabel(datasetId);
  const misclassified = useMemo(
    () => result.predictions.filter((p) => p.pred !== p.label).sort((a, b) => b.confidence - a.confidence).slice(0, GALLERY),
    [result],
  );
  const leastConfident = useMemo(
    () => result.predictions.filter((p) => p.pred === p.label).sort((a, b) => a.confidence - b.confidence).slice(0, GALLERY),
    [result],
  );
  const cellImages = useMemo(
    () => (selection ? result.predictions.filter((p) => p.label === selection.label && p.pred === selection.pred).sort((a, b) => a.confidence - b.confidence) : []),
    [result, selection],
  );
  const correct = result.confusion.reduce((a, row, i) => a + row[i]!, 0);
  return (
    <div className="eval-result">
      <p className="eval-summary">
        Accuracy{' '}
        <strong data-testid="eval-accuracy" title={`${correct} of ${result.n} images`}>
          {formatAccuracy(result.accuracy)}
        </strong>{' '}
        <span className="muted">
          {correct} of {result.n} images ({result.split === 'val' ? 'validation' : result.split === 'test' ? 'test split' : 'validation + test'})
        </span>
      </p>
      <div className="eval-grid">
        <ConfusionMatrix result={result} selection={selection} onSelect={onSelect} />
        <table className="table table-compact eval-classes" aria-label="Per-class precision and recall" data-testid="eval-classes">
          <thead>
            <tr>
              <th scope="col">Class</th>
              <th scope="col" className="num">
                Precision
              </th>
              <th scope="col" className="num">
                Recall
              </th>
              <th scope="col" className="num">
                Images
              </th>
            </tr>
          </thead>
          <tbody>
            {result.perClass.map((c) => (
              <tr key={c.name}>
                <th scope="row">{c.name}</th>
                <td className="num">{pct(c.precision)}</td>
                <td className="num">{pct(c.recall)}</td>
                <td className="num">{c.support}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {selection ? (
        <Gallery
          title={`True ${result.classes[selection.label]} → predicted ${result.classes[selection.pred]}`}
          items={cellImages}
          classes={result.classes}
          testId="eval-images"
          empty="No images in this cell."
          onClose={() => onSelect(null)}
          relabel={relabel}
        />
      ) : null}
      {relabel.enabled ? <RelabelBar relabel={relabel} result={result} /> : null}
      {[
        { title: 'Misclassified (most confident first)', items: misclassified, testId: 'eval-misclassified', empty: 'Every image was classified correctly.' },
        { title: 'Least confident correct predictions', items: leastConfident, testId: 'eval-least-confident', empty: 'No correct predictions.' },
      ].map((gallery) => (
        <Gallery key={gallery.testId} {...gallery} classes={result.classes} relabel={relabel} />
      ))}
    </div>
  );
}

function ConfusionMatrix({ result, selection, onSelect }: { result: RunEvaluation; selection: Selection; onSelect: (s: Selection) => void }) {
  const k = result.classes.length;
  return (
    <div className="confusion" role="grid" aria-label="Confusion matrix: rows are true classes, columns predicted" data-testid="confusion-matrix">
      <div className="confusion-axis muted">true ↓ / predicted →</div>
      <div className="confusion-grid" style={{ gridTemplateColumns: `minmax(3em, max-content) repeat(${k}, minmax(2.6em, 1fr))` }}>
        <span />
        {result.classes.map((name) => (
          <span key={`h-${name}`} className="confusion-head" title={name}>
            {name}
          </span>
        ))}
        {result.confusion.map((row, t) => {
          const total = row.reduce((a, b) => a + b, 0);
          return [
            <span key={`r-${t}`} className="confusion-head confusion-row-head" title={result.classes[t]}>
              {result.classes[t]}
            </span>,
            ...row.map((count, p) => {
              const share = total ? count / total : 0;
              const active = selection?.label === t && selection.pred === p;
              const hue = t === p ? '110, 168, 254' : '244, 113, 116';
              return (
                <button
                  key={`${t}-${p}`}
                  type="button"
                  className={`confusion-cell${active ? ' confusion-cell-active' : ''}${count === 0 ? ' confusion-cell-empty' : ''}`}
                  style={{ background: `rgba(${hue}, ${(0.08 + 0.8 * share).toFixed(3)})` }}
                  title={`true ${result.classes[t]}, predicted ${result.classes[p]}: ${count} (${(share * 100).toFixed(0)}% of the row)`}
                  aria-pressed={active}
                  onClick={() => onSelect(active ? null : { kind: 'cell', label: t, pred: p })}
                  data-testid={`confusion-cell-${t}-${p}`}
                >
                  {count}
                </button>
              );
            }),
          ];
        })}
      </div>
    </div>
  );
}

function Gallery({
  title,
  items,
  classes,
  testId,
  empty,
  onClose,
  relabel,
}: {
  title: string;
  items: EvaluationPrediction[];
  classes: string[];
  testId: string;
  empty: string;
  onClose?: () => void;
  relabel: Relabel;
}) {
  const client = useStudio();
  return (
    <section className="eval-gallery" aria-label={title} data-testid={testId}>
      <header className="eval-gallery-head">
        <h3>
          {title} <span className="muted">({items.length})</span>
        </h3>
        {onClose ? (
          <button type="button" className="button button-ghost" onClick={onClose}>
            Close
          </button>
        ) : null}
      </header>
      {items.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <ul className="eval-images">
          {items.map((p) => {
            const selectable = relabel.enabled && p.imageId !== null;
            const selected = p.imageId !== null && relabel.selected.has(p.imageId);
            const now = p.imageId !== null && relabel.relabeled.has(p.imageId) ? relabel.relabeled.get(p.imageId)! : undefined;
            const nowName = now === undefined ? undefined : now === null ? 'unlabeled' : (relabel.classes.find((c) => c.id === now)?.name ?? '?');
            const body = (
              <>
                <img src={client.mediaUrl('thumb', p.imageHash)} alt={p.fileName} loading="lazy" />
                <span className="eval-image-name" title={p.fileName}>
                  {p.fileName}
                </span>
                <span className="eval-image-meta">
                  {classes[p.label]} → {classes[p.pred]} · {(p.confidence * 100).toFixed(0)}%
                </span>
                {nowName !== undefined ? (
                  <span className="eval-image-relabeled" data-testid="eval-image-relabeled">
                    now {nowName}
                  </span>
                ) : null}
              </>
            );
            return (
              <li
                key={p.imageHash}
                className={`eval-image${p.pred === p.label ? '' : ' eval-image-wrong'}${selected ? ' eval-image-selected' : ''}`}
                data-testid="eval-image"
                data-image-id={p.imageId ?? ''}
              >
                {selectable ? (
                  <button type="button" className="eval-image-pick" aria-pressed={selected} onClick={() => relabel.toggle(p.imageId!)} title="Select to relabel">
                    {body}
                  </button>
                ) : (
                  body
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** The relabel toolbar over the galleries: label the selected images, or give them the predicted class. */
function RelabelBar({ relabel, result }: { relabel: Relabel; result: RunEvaluation }) {
  const count = relabel.selected.size;
  const acceptPredictions = async () => {
    // One labels.set (one undo step) per predicted class.
    for (const [classId, ids] of byPredictedClass(result.predictions, result.classes, relabel.classes, relabel.selected)) await relabel.label(classId, ids);
    relabel.clear();
  };
  return (
    <div className="label-toolbar eval-relabel" role="toolbar" aria-label="Relabel images" data-testid="eval-relabel">
      <span className="label-selection">
        <strong data-testid="eval-selection-count">{formatInt(count)}</strong> selected
      </span>
      <select
        className="input input-small"
        data-testid="eval-relabel-as"
        aria-label="Label the selected images as"
        value=""
        disabled={count === 0}
        onChange={(e) => {
          const value = e.target.value;
          if (value !== '') void relabel.label(value === 'none' ? null : Number(value));
        }}
      >
        <option value="">Label as…</option>
        {relabel.classes.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
            {relabel.hotkeys.has(c.id) ? ` (${relabel.hotkeys.get(c.id)})` : ''}
          </option>
        ))}
        <option value="none">unlabeled (0)</option>
      </select>
      <button type="button" className="button button-small" data-testid="eval-accept-predictions" disabled={count === 0} onClick={() => void acceptPredictions()}>
        Label as predicted
      </button>
      <button type="button" className="button button-small" onClick={relabel.clear} disabled={count === 0}>
        Clear
      </button>
      <button type="button" className="button button-small" data-testid="eval-relabel-undo" onClick={() => void relabel.undo()} disabled={!relabel.canUndo} aria-keyshortcuts="Control+Z">
        Undo
      </button>
      <span className="muted eval-relabel-help">Click images to select · class key labels · 0 unlabels · Ctrl+Z undoes</span>
    </div>
  );
}
