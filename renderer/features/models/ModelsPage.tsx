import { useEffect, useState, type FormEvent } from 'react';
import type { ModelSummary } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { useStudio, useToast } from '../../app/StudioProvider';
import { EmptyState, Loading } from '../../components/EmptyState';
import { errorMessage, messageFor } from '../../lib/errors';
import { formatCount, formatDateTime, formatInt } from '../../lib/format';

export function ModelsPage() {
  usePageCrumbs([{ label: 'Models', href: '#/models' }]);
  const client = useStudio();
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let alive = true;
    client.api['models.list']({}).then(
      (list) => {
        if (!alive) return;
        setModels(list);
        setError(null);
      },
      (e: unknown) => alive && setError(errorMessage(e)),
    );
    return () => {
      alive = false;
    };
  }, [client, attempt]);

  return (
    <section className="page" aria-labelledby="models-title">
      <header className="page-header">
        <h1 id="models-title">Models</h1>
        {models && models.length > 0 ? <span className="page-meta">{models.length === 1 ? '1 model' : `${models.length} models`}</span> : null}
      </header>
      <ImportModelForm onImported={(model) => setModels((list) => [...(list ?? []).filter((m) => m.id !== model.id), model])} />
      {error ? (
        <div className="callout callout-error" role="alert">
          <span>Could not list models: {error}</span>
          <button type="button" className="button" onClick={() => setAttempt((n) => n + 1)}>
            Retry
          </button>
        </div>
      ) : models === null ? (
        <Loading label="Loading models…" />
      ) : models.length === 0 ? (
        <EmptyState title="No models yet" icon="◈">
          <p>Import a checkpoint folder with the form above, or from the command line on the studio machine:</p>
          <pre className="code-block">
            <code>npx peft-studio import-model DIR</code>
          </pre>
          <p className="muted">The imported model shows up here; fine-tuning runs start from it.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Models">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Layout</th>
                <th scope="col" className="num">
                  Parameters
                </th>
                <th scope="col" className="num">
                  Input size
                </th>
                <th scope="col" className="num">
                  Channels
                </th>
                <th scope="col">Classes</th>
                <th scope="col">Imported</th>
              </tr>
            </thead>
            <tbody>
              {models.map((model) => (
                <tr key={model.id} data-testid={model.builtIn ? 'builtin-model-row' : 'model-row'}>
                  <th scope="row" title={model.path}>
                    {model.name}
                  </th>
                  <td>
                    <code>{model.layout}</code>
                  </td>
                  <td className="num" title={formatInt(model.paramCount)}>
                    {formatCount(model.paramCount)}
                  </td>
                  <td className="num">
                    {model.imageSize} × {model.imageSize}
                  </td>
                  <td className="num">{model.numChannels}</td>
                  <td className="classes-cell" title={model.classes.join(', ')}>
                    {model.classes.length === 0 ? (
                      <span className="muted">none (backbone)</span>
                    ) : (
                      <>
                        <span className="num-badge">{formatInt(model.classes.length)}</span>{' '}
                        {model.classes.slice(0, 4).join(', ')}
                        {model.classes.length > 4 ? ', …' : ''}
                      </>
                    )}
                  </td>
                  <td>{model.builtIn ? <span title="Embedded in the app: read-only, used from its resources">built-in</span> : formatDateTime(model.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function ImportModelForm({ onImported }: { onImported(model: ModelSummary): void }) {
  const client = useStudio();
  const toast = useToast();
  const [path, setPath] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const model = await client.api['models.import']({ path: path.trim() });
      onImported(model);
      setPath('');
      toast.info(`Imported model “${model.name}”.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const browse = async () => {
    try {
      const picked = await client.api['app.pickFolder']({});
      if (picked) setPath(picked);
    } catch (e) {
      toast.error(e, 'Could not open the folder picker');
    }
  };

  const message = messageFor(error, 'path');
  return (
    <form className="create-form" onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor="model-path">Model folder</label>
        <div className="field-row">
          <input
            id="model-path"
            data-testid="model-path"
            className="input"
            value={path}
            onChange={(e) => setPath(e.target.value)}
            placeholder="/path/to/checkpoint-folder"
            spellCheck={false}
            autoComplete="off"
            readOnly={busy}
            aria-invalid={message ? true : undefined}
            aria-describedby={message ? 'model-path-error' : 'model-path-hint'}
          />
          {client.shell !== 'remote' ? (
            <button type="button" className="button" onClick={browse} disabled={busy}>
              Browse…
            </button>
          ) : null}
          <button type="submit" className="button button-primary" data-testid="model-import" disabled={busy || path.trim() === ''}>
            {busy ? 'Importing…' : 'Import model'}
          </button>
        </div>
        {message ? (
          <p id="model-path-error" className="field-error" role="alert">
            {message}
          </p>
        ) : (
          <p id="model-path-hint" className="field-hint">
            A model checkpoint folder on the studio machine.
          </p>
        )}
      </div>
    </form>
  );
}
