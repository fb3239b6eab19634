import { useEffect, useRef, useState } from 'react';
import type { ModelSummary, RunSummary, SoupProgress, SoupReport } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { ProgressBar } from '../../components/ProgressBar';
import { useModalDialog } from '../../components/useModalDialog';
import { errorMessage } from '../../lib/errors';
import { formatAccuracy } from './runsModel';
import { soupBlocker, soupStageText } from './soupModel';
import './soup.css';

type Recipe = 'uniform' | 'greedy';

/** A soup job's id, the caller's: its progress events carry it, and jobs.cancel names it. */
const newJobId = () => `soup-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

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
  // The soup being made: its job (to cancel it) and the last progress it reported.
  const [jobId, setJobId] = useState(newJobId);
  const [progress, setProgress] = useState<SoupProgress | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [cancelled, setCancelled] = useState(false);
  const cancelRequested = useRef(false);
  const making = report === null && error === null && !cancelled;
  const names = new Map(runs.map((r) => [r.id, r.name]));
  const nameOf = (id: number) => names.get(id) ?? `run ${id}`;

  useEffect(() => {
    let running = true;
    const unsubscribe = client.on('soups.progress', (p) => p.jobId === jobId && setProgress(p));
    client.api['soups.make']({ runIds: runs.map((r) => r.id), jobId })
      .then(
        (value) => running && setReport(value),
        (e: unknown) => running && (cancelRequested.current ? setCancelled(true) : setError(errorMessage(e))),
      )
      .finally(() => {
        running = false;
        unsubscribe();
      });
    return () => {
      // Closing the dialog stops the soup: no job is left running unseen.
      if (running) void client.api['jobs.cancel']({ jobId }).catch(() => {});
      running = false;
      unsubscribe();
    };
  }, [client, runs, jobId]);

  const cancel = () => {
    if (cancelling) return;
    cancelRequested.current = true;
    setCancelling(true);
    void client.api['jobs.cancel']({ jobId }).catch(() => {});
  };

  const makeAgain = () => {
    cancelRequested.current = false;
    setCancelling(false);
    setCancelled(false);
    setProgress(null);
    setJobId(newJobId());
  };

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
        // Esc while the soup is being made stops it (the dialog stays, saying so); otherwise it closes.
        if (making) cancel();
        else if (keeping === null) onClose();
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
        ) : cancelled ? (
          <div className="callout" role="status" data-testid="soup-cancelled">
            <span>Cancelled before the soups were scored: nothing was kept.</span>
            <button type="button" className="button button-small" onClick={makeAgain}>
              Make it again
            </button>
          </div>
        ) : !report ? (
          <div>
            <p className="muted">Averaging the runs' weights and scoring each soup on the images none of them trained on.</p>
            <div className="soup-progress">
              <ProgressBar done={progress?.done ?? 0} total={progress?.total ?? 0} label="Soup progress" testId="soup-progress" />
              <button type="button" className="button button-small" onClick={cancel} disabled={cancelling}>
                {cancelling ? 'Cancelling…' : 'Cancel'}
              </button>
            </div>
            <p className="muted soup-stage" role="status" data-testid="soup-stage">
              {soupStageText(progress)}
            </p>
          </div>
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
