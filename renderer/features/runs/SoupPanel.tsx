import { useEffect, useState } from 'react';
import type { ModelSummary, RunSummary, SoupReport } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { useModalDialog } from '../../components/useModalDialog';
import { errorMessage } from '../../lib/errors';
import { formatAccuracy } from './runsModel';
import { soupBlocker } from './soupModel';
import './soup.css';

type Recipe = 'uniform' | 'greedy';

/** "Make soup" for the runs table's selection: opens the soup of those runs in a dialog. */
export function MakeSoup({ runs }: { runs: readonly RunSummary[] }) {
  const [open, setOpen] = useState<RunSummary[] | null>(null);
  const blocker = soupBlocker(runs);
  return (
    <>
      <button type="button" className="button" disabled={blocker !== null} title={blocker ?? undefined} onClick={() => setOpen([...runs].sort((a, b) => a.id - b.id))}>
        Make soup{blocker === null ? ` (${runs.length})` : ''}
      </button>
      {open ? <SoupDialog runs={open} onClose={() => setOpen(null)} /> : null}
    </>
  );
}

/** Uniform and greedy soups of the runs (Wortsman et al. 2022), scored on held-out images, each keepable as a model. */
function SoupDialog({ runs, onClose }: { runs: RunSummary[]; onClose: () => void }) {
  const client = useStudio();
  const toast = useToast();
  const ref = useModalDialog();
  const [report, setReport] = useState<SoupReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [keeping, setKeeping] = useState<Recipe | null>(null);
  const [kept, setKept] = useState<Partial<Record<Recipe, ModelSummary>>>({});
  const names = new Map(runs.map((r) => [r.id, r.name]));
  const nameOf = (id: number) => names.get(id) ?? `run ${id}`;

  useEffect(() => {
    let alive = true;
    client.api['soups.make']({ runIds: runs.map((r) => r.id) }).then(
      (value) => alive && setReport(value),
      (e: unknown) => alive && setError(errorMessage(e)),
    );
    return () => {
      alive = false;
    };
  }, [client, runs]);

  const keep = async (recipe: Recipe) => {
    if (!report) return;
    setKeeping(recipe);
    try {
      const model = await client.api['soups.keep']({ runIds: report[recipe].runIds, recipe });
      setKept((k) => ({ ...k, [recipe]: model }));
      toast.info(`Kept “${model.name}” in Models.`);
    } catch (e) {
      toast.error(e, 'Keeping the soup');
    } finally {
      setKeeping(null);
    }
  };

  const best = report ? Math.max(...report.ingredients.map((i) => i.accuracy)) : 0;

  return (
    <dialog
      ref={ref}
      className="dialog soup-dialog"
      aria-labelledby="soup-title"
      data-testid="soup-dialog"
      onCancel={(event) => {
        event.preventDefault();
        if (keeping === null) onClose();
      }}
    >
      <h2 id="soup-title" className="dialog-title">
        Model soup of {runs.length} runs
      </h2>
      <div className="dialog-body">
        {error ? (
          <div className="callout callout-error" role="alert" data-testid="soup-error">
            <span>{error}</span>
          </div>
        ) : !report ? (
          <p className="muted" role="status">
            Averaging the runs' weights and scoring each soup on the images none of them trained on…
          </p>
        ) : (
          <>
            <p className="muted">
              Scored on {report.heldOut} held-out image{report.heldOut === 1 ? '' : 's'} that every run held out. Greedy adds runs best
              first and keeps one only when accuracy does not drop.
            </p>
            {report.sharedStart ? null : (
              <div className="callout" role="note" data-testid="soup-start-note">
                <span>
                  These runs used different seeds, so their new classifier heads started from different random weights. Soups work best
                  for runs that share a seed and differ in learning rate, steps or method options of the same shape.
                </span>
              </div>
            )}
            <table className="table soup-table" aria-label="Soup results">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col" className="num">
                    Held-out accuracy
                  </th>
                  <th scope="col">Runs averaged</th>
                  <th scope="col">
                    <span className="visually-hidden">Keep</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.ingredients.map((i) => (
                  <tr key={i.runId}>
                    <th scope="row">{i.name}</th>
                    <td className="num">{formatAccuracy(i.accuracy)}</td>
                    <td className="muted">one run</td>
                    <td />
                  </tr>
                ))}
                {(['uniform', 'greedy'] as const).map((recipe) => {
                  const soup = report[recipe];
                  return (
                    <tr key={recipe} data-testid={`soup-${recipe}`} className="soup-row">
                      <th scope="row">{recipe === 'uniform' ? 'Uniform soup' : 'Greedy soup'}</th>
                      <td className="num" data-testid={`soup-${recipe}-accuracy`}>
                        {formatAccuracy(soup.accuracy)}
                        {soup.accuracy > best ? <span className="soup-gain"> +{((soup.accuracy - best) * 100).toFixed(1)}</span> : null}
                      </td>
                      <td>{soup.runIds.map(nameOf).join(' + ')}</td>
                      <td>
                        {kept[recipe] ? (
                          <a href="#/models" data-testid={`soup-${recipe}-kept`}>
                            In Models
                          </a>
                        ) : (
                          <button type="button" className="button button-small" disabled={keeping !== null} onClick={() => void keep(recipe)}>
                            {keeping === recipe ? 'Keeping…' : 'Keep as model'}
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <details>
              <summary>Greedy steps</summary>
              <ol className="soup-steps">
                {report.greedy.steps.map((s) => (
                  <li key={s.runId}>
                    {s.kept ? 'added' : 'skipped'} {nameOf(s.runId)}: {formatAccuracy(s.accuracy)}
                  </li>
                ))}
              </ol>
            </details>
          </>
        )}
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose} disabled={keeping !== null}>
          Close
        </button>
      </div>
    </dialog>
  );
}
