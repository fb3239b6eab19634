import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import type { DatasetSummary } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { navigate } from '../../app/router';
import { isTypingTarget } from '../../app/shortcuts';
import { useStudio, useToast } from '../../app/StudioProvider';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { EmptyState, Loading } from '../../components/EmptyState';
import { errorMessage, messageFor } from '../../lib/errors';
import { formatInt, plural } from '../../lib/format';
import { useThrottledEvent } from './useThrottledEvent';

export function DatasetsPage() {
  usePageCrumbs([{ label: 'Datasets', href: '#/datasets' }]);
  const client = useStudio();
  const toast = useToast();
  const [datasets, setDatasets] = useState<DatasetSummary[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<DatasetSummary | null>(null);

  const reload = useCallback(() => {
    return client.api['datasets.list']({}).then(
      (list) => {
        setDatasets(list);
        setLoadError(null);
      },
      (e: unknown) => setLoadError(errorMessage(e)),
    );
  }, [client]);

  useEffect(() => {
    void reload();
  }, [reload]);
  useThrottledEvent('datasets.changed', () => true, () => void reload());

  const replace = (updated: DatasetSummary) =>
    setDatasets((list) => list?.map((d) => (d.id === updated.id ? updated : d)) ?? list);

  return (
    <section className="page" aria-labelledby="datasets-title">
      <header className="page-header">
        <h1 id="datasets-title">Datasets</h1>
        {datasets && datasets.length > 0 ? <span className="page-meta">{plural(datasets.length, 'dataset')}</span> : null}
      </header>

      <CreateDatasetForm
        onCreated={(dataset) => {
          setDatasets((list) => [...(list ?? []), dataset]);
          toast.info(`Created “${dataset.name}”. Import images into it here.`);
          navigate({ name: 'dataset', id: dataset.id });
        }}
      />

      {loadError ? (
        <div className="callout callout-error" role="alert">
          <span>Could not list datasets: {loadError}</span>
          <button type="button" className="button" onClick={() => void reload()}>
            Retry
          </button>
        </div>
      ) : datasets === null ? (
        <Loading label="Loading datasets…" />
      ) : datasets.length === 0 ? (
        <EmptyState title="No datasets yet" icon="▦">
          <p>Name a dataset above, then import a folder of images into it: each sub-folder becomes a class.</p>
        </EmptyState>
      ) : (
        <ul className="card-grid" aria-label="Datasets">
          {datasets.map((dataset) => (
            <DatasetCard key={dataset.id} dataset={dataset} onRenamed={replace} onDelete={() => setDeleting(dataset)} />
          ))}
        </ul>
      )}

      {deleting ? (
        <ConfirmDialog
          title={`Delete “${deleting.name}”?`}
          confirmLabel="Delete dataset"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            try {
              await client.api['datasets.delete']({ id: deleting.id });
              setDatasets((list) => list?.filter((d) => d.id !== deleting.id) ?? list);
              toast.info(`Deleted “${deleting.name}”.`);
              setDeleting(null);
            } catch (e) {
              toast.error(e, 'Delete failed');
            }
          }}
        >
          <p>
            This removes the dataset, its {plural(deleting.imageCount, 'image')} and {plural(deleting.classCount, 'class', 'classes')} from the
            studio. The original files on disk are not touched.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

function CreateDatasetForm({ onCreated }: { onCreated(dataset: DatasetSummary): void }) {
  const client = useStudio();
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  // "n" jumps to the name field from anywhere on the page.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'n' || event.altKey || event.ctrlKey || event.metaKey || isTypingTarget(event.target)) return;
      if (document.querySelector('dialog[open]')) return;
      event.preventDefault();
      input.current?.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await client.api['datasets.create']({ name });
      setName('');
      onCreated(created);
    } catch (e) {
      setError(e);
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  const message = messageFor(error, 'name');
  return (
    <form className="create-form" onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor="new-dataset-name">Dataset name</label>
        <div className="field-row">
          <input
            ref={input}
            id="new-dataset-name"
            className="input"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="e.g. Cats vs dogs"
            aria-invalid={message ? true : undefined}
            aria-describedby={message ? 'new-dataset-name-error' : 'new-dataset-name-hint'}
            autoComplete="off"
            maxLength={200}
          />
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create dataset'}
          </button>
        </div>
        {message ? (
          <p id="new-dataset-name-error" className="field-error" role="alert">
            {message}
          </p>
        ) : (
          <p id="new-dataset-name-hint" className="field-hint">
            Press <kbd>n</kbd> to jump here.
          </p>
        )}
      </div>
    </form>
  );
}

function DatasetCard({
  dataset,
  onRenamed,
  onDelete,
}: {
  dataset: DatasetSummary;
  onRenamed(updated: DatasetSummary): void;
  onDelete(): void;
}) {
  const client = useStudio();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(dataset.name);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const renameButton = useRef<HTMLButtonElement>(null);
  const href = `#/datasets/${dataset.id}`;

  const startEditing = () => {
    setDraft(dataset.name);
    setError(null);
    setEditing(true);
  };
  const stopEditing = () => {
    setEditing(false);
    setError(null);
    window.setTimeout(() => renameButton.current?.focus(), 0);
  };
  const save = async (event?: FormEvent) => {
    event?.preventDefault();
    if (draft.trim() === dataset.name) return stopEditing();
    setBusy(true);
    try {
      const updated = await client.api['datasets.rename']({ id: dataset.id, name: draft });
      onRenamed(updated);
      stopEditing();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const message = messageFor(error, 'name');
  const inputId = `rename-${dataset.id}`;
  return (
    <li className="card dataset-card" data-testid="dataset-card">
      <a className="card-preview" href={href} tabIndex={-1} aria-hidden="true">
        <DatasetPreview datasetId={dataset.id} imageCount={dataset.imageCount} />
      </a>
      <div className="card-body">
        {editing ? (
          <form className="rename-form" onSubmit={save} noValidate>
            <label htmlFor={inputId} className="visually-hidden">
              New name for {dataset.name}
            </label>
            <input
              id={inputId}
              className="input input-small"
              value={draft}
              autoFocus
              onFocus={(e) => e.currentTarget.select()}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Escape') {
                  e.preventDefault();
                  stopEditing();
                }
              }}
              aria-invalid={message ? true : undefined}
              aria-describedby={message ? `${inputId}-error` : undefined}
              maxLength={200}
              readOnly={busy}
            />
            <div className="rename-actions">
              <button type="submit" className="button button-small button-primary" disabled={busy}>
                Save
              </button>
              <button type="button" className="button button-small" onClick={stopEditing} disabled={busy}>
                Cancel
              </button>
            </div>
            {message ? (
              <p id={`${inputId}-error`} className="field-error" role="alert">
                {message}
              </p>
            ) : null}
          </form>
        ) : (
          <h2 className="card-title">
            <a href={href}>{dataset.name}</a>
          </h2>
        )}
        <dl className="card-stats">
          <div>
            <dt>images</dt>
            <dd data-testid="card-image-count">{formatInt(dataset.imageCount)}</dd>
          </div>
          <div>
            <dt>classes</dt>
            <dd data-testid="card-class-count">{formatInt(dataset.classCount)}</dd>
          </div>
          <div>
            <dt>labeled</dt>
            <dd data-testid="card-labeled-count" title={`${formatInt(dataset.unlabeledCount)} unlabeled`}>
              {formatInt(dataset.imageCount - dataset.unlabeledCount)}
            </dd>
          </div>
        </dl>
        {dataset.imageCount > 0 ? <SplitLine counts={dataset.splitCounts} total={dataset.imageCount} /> : null}
        {!editing ? (
          <div className="card-actions">
            <button ref={renameButton} type="button" className="button button-small button-ghost" onClick={startEditing} aria-label={`Rename ${dataset.name}`}>
              Rename
            </button>
            <button type="button" className="button button-small button-ghost button-danger-text" onClick={onDelete} aria-label={`Delete ${dataset.name}`}>
              Delete
            </button>
          </div>
        ) : null}
      </div>
    </li>
  );
}

const SPLITS = ['train', 'val', 'test', 'none'] as const;

/** Images per split at a glance: a stacked bar and the numbers ("no split" only when some are). */
function SplitLine({ counts, total }: { counts: DatasetSummary['splitCounts']; total: number }) {
  const shown = SPLITS.filter((s) => s !== 'none' || counts.none > 0);
  return (
    <div className="card-splits">
      <span className="card-split-bar" aria-hidden="true">
        {SPLITS.map((s) => (counts[s] > 0 ? <span key={s} className={`split-fill-${s}`} style={{ width: `${(counts[s] / total) * 100}%` }} /> : null))}
      </span>
      <span className="card-split-numbers">
        {shown.map((s) => (
          <span key={s} data-testid={`card-split-${s}`}>
            {formatInt(counts[s])} {s === 'none' ? 'no split' : s}
          </span>
        ))}
      </span>
    </div>
  );
}

/** Up to four thumbnails of a dataset, fetched once per card. */
function DatasetPreview({ datasetId, imageCount }: { datasetId: number; imageCount: number }) {
  const client = useStudio();
  const [hashes, setHashes] = useState<string[]>([]);
  const hasImages = imageCount > 0;
  useEffect(() => {
    if (!hasImages) return;
    let alive = true;
    client.api['images.page']({ datasetId, offset: 0, limit: 4 }).then(
      (page) => alive && setHashes(page.items.map((i) => i.hash)),
      () => {},
    );
    return () => {
      alive = false;
    };
  }, [client, datasetId, hasImages]);

  if (!hasImages || hashes.length === 0) {
    return <div className="preview-empty">{hasImages ? '' : 'no images yet'}</div>;
  }
  return (
    <div className="preview-mosaic">
      {hashes.map((hash) => (
        <img key={hash} src={client.mediaUrl('thumb', hash)} alt="" loading="lazy" draggable={false} />
      ))}
    </div>
  );
}
