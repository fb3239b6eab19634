/** Export the dataset as an ImageFolder (+ manifest) into a folder on the studio machine. */
import { useState, type FormEvent } from 'react';
import type { DatasetExport } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';
import { messageFor } from '../../lib/errors';
import { formatInt } from '../../lib/format';

export function ExportPanel({ datasetId, imageCount }: { datasetId: number; imageCount: number }) {
  const client = useStudio();
  const [path, setPath] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<DatasetExport | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setResult(null);
    setBusy(true);
    try {
      setResult(await client.api['datasets.export']({ datasetId, path: path.trim() }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const browse = async () => {
    const picked = await client.api['app.pickFolder']({}).catch(() => null);
    if (picked) setPath(picked);
  };

  const message = messageFor(error, 'path');
  return (
    <section className="panel export-panel" aria-labelledby="export-title">
      <h2 id="export-title" className="panel-title">
        Export
      </h2>
      <form className="import-form" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="export-path">Destination folder (new or empty)</label>
          <div className="field-row">
            <input
              id="export-path"
              className="input"
              data-testid="export-path"
              value={path}
              onChange={(e) => setPath(e.target.value)}
              placeholder="/path/to/export"
              spellCheck={false}
              autoComplete="off"
              aria-invalid={message ? true : undefined}
              disabled={busy}
            />
            {client.shell !== 'remote' ? (
              <button type="button" className="button" onClick={() => void browse()} disabled={busy}>
                Browse…
              </button>
            ) : null}
          </div>
          {message ? <p className="field-error" data-testid="export-error">{message}</p> : null}
          <p className="field-hint muted">One sub-folder per class, unlabeled images at the top, captions as .txt, manifest.json/.csv with splits.</p>
        </div>
        <button type="submit" className="button button-small button-primary" data-testid="export-start" disabled={busy || path.trim() === '' || imageCount === 0}>
          {busy ? 'Exporting…' : 'Export'}
        </button>
      </form>
      {result ? (
        <p className="export-result" data-testid="export-result" role="status">
          Exported <strong data-testid="export-count">{formatInt(result.images)}</strong> images to <code data-testid="export-result-path">{result.path}</code>
        </p>
      ) : null}
    </section>
  );
}
