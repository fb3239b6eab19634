import { useEffect, useState } from 'react';
import { runFilePath, type RunDetail, type RunExport, type RunExportItem, type RunFile } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { formatBytes } from './runsModel';

const ITEMS: { item: RunExportItem; label: string; missing: string }[] = [
  { item: 'adapter', label: 'Adapter (Hugging Face PEFT layout)', missing: 'written when the run finishes' },
  { item: 'model', label: 'Merged model folder', missing: 'written when the run finishes, for methods that merge' },
  { item: 'metrics', label: 'Metrics (CSV)', missing: '' },
  { item: 'config', label: 'Run configuration (JSON)', missing: '' },
];

/**
 * Export of a finished run's files. In the desktop app: into a folder picked in the native dialog,
 * and "Open folder". In a browser (remote shell) there is no dialog on this side: the files are
 * exported into the studio's data folder or downloaded one by one.
 */
export function RunExportPanel({ run }: { run: RunDetail }) {
  const client = useStudio();
  const toast = useToast();
  const remote = client.shell === 'remote';
  const [files, setFiles] = useState<RunFile[] | null>(null);
  const [chosen, setChosen] = useState<Set<RunExportItem>>(new Set(['adapter', 'metrics', 'config']));
  const [result, setResult] = useState<RunExport | null>(null);
  const [busy, setBusy] = useState(false);

  // The files change when the run finishes or is extended: fetched again then.
  useEffect(() => {
    let alive = true;
    client.api['runs.files']({ id: run.id }).then(
      (list) => alive && setFiles(list),
      (e: unknown) => alive && toast.error(e, 'Listing the run files'),
    );
    return () => {
      alive = false;
    };
  }, [client, toast, run.id, run.status, run.totalSteps]);

  const has = (item: RunExportItem) => files?.some((f) => f.item === item) ?? false;
  const selected = ITEMS.map((i) => i.item).filter((item) => chosen.has(item) && has(item));

  const exportTo = async (destination: 'choose' | 'data') => {
    setBusy(true);
    try {
      const done = await client.api['runs.export']({ id: run.id, items: selected, destination });
      if (done.folder !== null) setResult(done);
    } catch (e) {
      toast.error(e, 'Exporting');
    } finally {
      setBusy(false);
    }
  };

  const openFolder = async () => {
    try {
      await client.api['runs.openFolder']({ id: run.id });
    } catch (e) {
      toast.error(e, 'Opening the run folder');
    }
  };

  return (
    <section className="run-export" aria-labelledby="run-export-title" data-testid="run-export">
      <h2 id="run-export-title">Export</h2>
      {files === null ? (
        <p className="muted">Listing the run files…</p>
      ) : (
        <>
          <fieldset className="run-export-items" disabled={busy}>
            <legend className="visually-hidden">What to export</legend>
            {ITEMS.map(({ item, label, missing }) => (
              <label key={item} className="check-label">
                <input
                  type="checkbox"
                  checked={chosen.has(item) && has(item)}
                  disabled={!has(item)}
                  onChange={(e) =>
                    setChosen((current) => {
                      const next = new Set(current);
                      if (e.target.checked) next.add(item);
                      else next.delete(item);
                      return next;
                    })
                  }
                />{' '}
                {label}
                {!has(item) && missing ? <span className="muted"> — {missing}</span> : null}
              </label>
            ))}
          </fieldset>
          <div className="run-export-actions">
            {remote ? null : (
              <button type="button" className="button button-primary" disabled={busy || selected.length === 0} onClick={() => void exportTo('choose')}>
                Export to folder…
              </button>
            )}
            <button
              type="button"
              className={remote ? 'button button-primary' : 'button'}
              disabled={busy || selected.length === 0}
              onClick={() => void exportTo('data')}
              title="Writes exports/run-N in the studio's data folder (replacing an earlier export of this run)"
            >
              Export into the data folder
            </button>
            {remote ? null : (
              <button type="button" className="button button-ghost" onClick={() => void openFolder()}>
                Open run folder
              </button>
            )}
          </div>
          {remote ? (
            <p className="field-hint">
              This browser cannot open folders on the machine the studio runs on: export into its data folder, or download the files.
            </p>
          ) : null}
          {result ? (
            <div className="callout" role="status" data-testid="export-result">
              <span>
                Exported {result.files.length} files to <code data-testid="export-folder">{result.folder}</code>
              </span>
            </div>
          ) : null}
          {remote && files.length > 0 ? (
            <ul className="run-downloads" aria-label="Downloads">
              {files.map((f) => (
                <li key={`${f.item}/${f.name}`}>
                  <a href={runFilePath(run.id, f.item, f.name)} download={f.name} data-testid="run-download">
                    {f.item === 'adapter' || f.item === 'model' ? `${f.item}/` : ''}
                    {f.name}
                  </a>{' '}
                  <span className="muted">{formatBytes(f.bytes)}</span>
                </li>
              ))}
            </ul>
          ) : null}
        </>
      )}
    </section>
  );
}
