import { useCallback, useEffect, useRef, useState, type DragEvent } from 'react';
import type { DatasetDetail } from '../../../preload/api';
import { StudioError } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { useStudio, useToast } from '../../app/StudioProvider';
import { EmptyState, Loading } from '../../components/EmptyState';
import { errorMessage } from '../../lib/errors';
import { formatInt, percent, plural } from '../../lib/format';
import { collectDropped, dragHasFiles, takeDropped } from './dropFiles';
import { ImportPanel } from './ImportPanel';
import { filterClassId, type ImageFilter } from './imageFilter';
import { LabelingPanels } from '../labeling/LabelingPanels';
import { LabelingWorkspace } from '../labeling/LabelingWorkspace';
import { uploadLabel, useImport } from './useImport';
import { useThrottledEvent } from './useThrottledEvent';

export function DatasetPage({ datasetId }: { datasetId: number }) {
  const client = useStudio();
  const toast = useToast();
  const [detail, setDetail] = useState<DatasetDetail | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  const [filter, setFilter] = useState<ImageFilter>({ kind: 'all' });
  const [dragging, setDragging] = useState(false);
  const dragDepth = useRef(0);

  usePageCrumbs([{ label: 'Datasets', href: '#/datasets' }, { label: detail?.name ?? `Dataset ${datasetId}` }]);

  // When this page's own reload started after a change event arrived, the event needs no reload of
  // its own (labeling here reloads after every keystroke; the event of that label is then spent).
  const reloadStarted = useRef(0);
  const eventArrived = useRef(0);
  const reload = useCallback(() => {
    reloadStarted.current = performance.now();
    return client.api['datasets.get']({ id: datasetId }).then(
      (value) => {
        setDetail(value);
        setLoadError(null);
        setRefreshKey((k) => k + 1);
      },
      (e: unknown) => {
        setLoadError(e);
        // Deleted while open (another window, the CLI): say so rather than show stale counts.
        if (e instanceof StudioError && e.code === 'not_found') setDetail(null);
      },
    );
  }, [client, datasetId]);

  useEffect(() => {
    void reload();
  }, [reload]);
  useThrottledEvent(
    'datasets.changed',
    (p) => {
      if (p.datasetId !== datasetId) return false;
      eventArrived.current = performance.now();
      return true;
    },
    () => {
      if (reloadStarted.current < eventArrived.current) void reload();
    },
    1000,
  );

  const importer = useImport(datasetId, () => void reload());

  // A class filter whose class disappeared falls back to all images.
  const effectiveFilter: ImageFilter =
    filter.kind === 'class' && detail && !detail.classes.some((c) => c.id === filter.classId) ? { kind: 'all' } : filter;

  if (loadError && !detail) {
    const notFound = loadError instanceof StudioError && loadError.code === 'not_found';
    return (
      <EmptyState title={notFound ? 'No such dataset' : 'Could not open the dataset'}>
        <p>{notFound ? `Dataset ${datasetId} does not exist (it may have been deleted).` : errorMessage(loadError)}</p>
        <p>
          <a href="#/datasets">Back to datasets</a>
          {!notFound ? (
            <>
              {' · '}
              <button type="button" className="link-button" onClick={() => void reload()}>
                Retry
              </button>
            </>
          ) : null}
        </p>
      </EmptyState>
    );
  }
  if (!detail) return <Loading label="Opening dataset…" />;

  const expected =
    effectiveFilter.kind === 'all'
      ? detail.imageCount
      : effectiveFilter.kind === 'unlabeled'
        ? detail.unlabeledCount
        : (detail.classes.find((c) => c.id === effectiveFilter.classId)?.imageCount ?? 0);
  const maxClass = Math.max(1, detail.unlabeledCount, ...detail.classes.map((c) => c.imageCount));

  const onDragEnter = (event: DragEvent) => {
    if (!dragHasFiles(event)) return;
    event.preventDefault();
    dragDepth.current += 1;
    setDragging(true);
  };
  const onDragLeave = (event: DragEvent) => {
    if (!dragHasFiles(event)) return;
    dragDepth.current = Math.max(0, dragDepth.current - 1);
    if (dragDepth.current === 0) setDragging(false);
  };
  const onDragOver = (event: DragEvent) => {
    if (!dragHasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = importer.active ? 'none' : 'copy';
  };
  const onDrop = (event: DragEvent) => {
    if (!dragHasFiles(event)) return;
    event.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    const { entries, loose } = takeDropped(event.dataTransfer);
    collectDropped(entries, loose).then(
      (files) => {
        if (files.length === 0) toast.info('Nothing to import: the drop held no files.');
        else void importer.startUpload(files, uploadLabel(files));
      },
      (e: unknown) => toast.error(e, 'Could not read the dropped files'),
    );
  };

  return (
    <section
      className="page dataset-page"
      aria-labelledby="dataset-title"
      onDragEnter={onDragEnter}
      onDragLeave={onDragLeave}
      onDragOver={onDragOver}
      onDrop={onDrop}
    >
      <header className="page-header dataset-header">
        <h1 id="dataset-title">{detail.name}</h1>
        <dl className="header-stats">
          <div>
            <dt>images</dt>
            <dd data-testid="dataset-image-count">{formatInt(detail.imageCount)}</dd>
          </div>
          <div>
            <dt>classes</dt>
            <dd data-testid="dataset-class-count">{formatInt(detail.classCount)}</dd>
          </div>
          <div>
            <dt>unlabeled</dt>
            <dd data-testid="dataset-unlabeled-count">{formatInt(detail.unlabeledCount)}</dd>
          </div>
        </dl>
      </header>

      <div className="dataset-layout">
        <div className="dataset-main">
          <div className="chips" role="toolbar" aria-label="Filter images">
            <FilterChip label="All" count={detail.imageCount} pressed={effectiveFilter.kind === 'all'} onClick={() => setFilter({ kind: 'all' })} />
            <FilterChip
              label="Unlabeled"
              count={detail.unlabeledCount}
              pressed={effectiveFilter.kind === 'unlabeled'}
              onClick={() => setFilter({ kind: 'unlabeled' })}
            />
            {detail.classes.map((c) => (
              <FilterChip
                key={c.id}
                label={c.name}
                color={c.color}
                count={c.imageCount}
                pressed={effectiveFilter.kind === 'class' && effectiveFilter.classId === c.id}
                onClick={() => setFilter({ kind: 'class', classId: c.id })}
              />
            ))}
          </div>
          {detail.imageCount === 0 && !importer.active ? (
            <div className="drop-hint">
              <EmptyState title="No images yet" icon="⇣">
                <p>Import a folder with the panel on the right, or drop image files and folders here.</p>
                <p className="muted">Sub-folders become classes (cats/…, dogs/…); loose images stay unlabeled.</p>
              </EmptyState>
            </div>
          ) : (
            <LabelingWorkspace
              datasetId={datasetId}
              detail={detail}
              classFilter={filterClassId(effectiveFilter)}
              expectedCount={expected}
              refreshKey={refreshKey}
              onChanged={reload}
            />
          )}
        </div>

        <aside className="dataset-aside" aria-label="Dataset tools">
          <ImportPanel importer={importer} />
          <section className="panel" aria-labelledby="classes-title">
            <h2 id="classes-title" className="panel-title">
              Classes <span className="muted">{plural(detail.classCount, 'class', 'classes')}</span>
            </h2>
            {detail.classes.length === 0 && detail.unlabeledCount === 0 ? (
              <p className="muted">Classes come from the sub-folders of what you import.</p>
            ) : (
              <ul className="class-bars" aria-label="Images per class">
                {detail.classes.map((c) => (
                  <li key={c.id} className="class-bar">
                    <span className="class-swatch" style={{ background: c.color }} aria-hidden="true" />
                    <span className="class-name" title={c.name}>
                      {c.name}
                    </span>
                    <span className="class-track" aria-hidden="true">
                      <span className="class-fill" style={{ width: `${percent(c.imageCount, maxClass)}%`, background: c.color }} />
                    </span>
                    <span className="class-count" data-testid={`class-count-${c.name}`}>
                      {formatInt(c.imageCount)}
                    </span>
                  </li>
                ))}
                {detail.unlabeledCount > 0 ? (
                  <li className="class-bar class-bar-unlabeled">
                    <span className="class-swatch class-swatch-unlabeled" aria-hidden="true" />
                    <span className="class-name">unlabeled</span>
                    <span className="class-track" aria-hidden="true">
                      <span className="class-fill class-fill-unlabeled" style={{ width: `${percent(detail.unlabeledCount, maxClass)}%` }} />
                    </span>
                    <span className="class-count" data-testid="unlabeled-count">
                      {formatInt(detail.unlabeledCount)}
                    </span>
                  </li>
                ) : null}
              </ul>
            )}
          </section>
          <LabelingPanels datasetId={datasetId} detail={detail} onChanged={reload} />
        </aside>
      </div>

      {dragging ? (
        <div className="drop-overlay" aria-hidden="true">
          <div className="drop-overlay-card">
            {importer.active ? 'An import is running: wait for it to finish' : `Drop to import into “${detail.name}”`}
            <span className="muted">Folders become classes; loose files import unlabeled.</span>
          </div>
        </div>
      ) : null}

    </section>
  );
}

function FilterChip({ label, count, pressed, color, onClick }: { label: string; count: number; pressed: boolean; color?: string; onClick(): void }) {
  return (
    <button type="button" className="chip" aria-pressed={pressed} onClick={onClick}>
      {color ? <span className="chip-dot" style={{ background: color }} aria-hidden="true" /> : null}
      <span className="chip-label">{label}</span>
      <span className="chip-count">{formatInt(count)}</span>
    </button>
  );
}
