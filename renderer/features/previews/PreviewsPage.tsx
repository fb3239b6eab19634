import { useEffect, useRef, useState } from 'react';
import { isDiffusionModel, type DatasetSummary, type ImageItem, type ModelSummary, type PreviewResult, type RunSummary } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { navigate } from '../../app/router';
import type { PreviewSource } from '../../app/routes';
import { useStudio } from '../../app/StudioProvider';
import { ImageDropZone, usePickedImage } from '../../components/ImageDrop';
import { errorMessage } from '../../lib/errors';
import { readBase64 } from '../datasets/dropFiles';
import { saliencyRgba } from './saliency';
import './previews.css';

/** Runs with a trained model to try: finished, or stopped with a checkpoint (the service says when there is none). */
const TRYABLE: ReadonlySet<RunSummary['status']> = new Set(['done', 'stopped', 'paused', 'interrupted']);
const PICK_LIMIT = 48;

const sourceKey = (source: PreviewSource | undefined) => (source ? `${source.kind}:${source.id}` : '');

/** Predictions on one image: top-5 classes and, for a ViT, where it looked (attention rollout). */
export function PreviewsPage({ source }: { source?: PreviewSource }) {
  usePageCrumbs([{ label: 'Previews', href: '#/previews' }]);
  const client = useStudio();
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [image, show] = usePickedImage();
  const [outcome, setOutcome] = useState<{ key: string; result: PreviewResult | null; error: string | null } | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [overlay, setOverlay] = useState(true);
  const [opacity, setOpacity] = useState(0.6);

  useEffect(() => {
    let alive = true;
    Promise.all([client.api['models.list']({}), client.api['runs.list']({})]).then(
      ([modelList, runList]) => {
        if (!alive) return;
        // Previews classify: diffusion models (DiT) are tried on the Generate page.
        setModels(modelList.filter((m) => !isDiffusionModel(m)));
        setRuns(runList.filter((r) => TRYABLE.has(r.status)));
      },
      (e: unknown) => alive && setListError(errorMessage(e)),
    );
    return () => {
      alive = false;
    };
  }, [client]);

  // Without a choice in the address, the first model the user imported, else a built-in one.
  const first = models?.find((m) => !m.builtIn) ?? models?.[0];
  const chosen: PreviewSource | undefined = source ?? (first ? { kind: 'model', id: first.id } : undefined);

  const kind = chosen?.kind;
  const id = chosen?.id;
  // Which (model, image) the shown outcome answers: a new choice shows "Predicting…" until its own.
  const requestKey = kind && image ? `${kind}:${id}|${image.url}` : null;
  useEffect(() => {
    if (!kind || id === undefined || !image) return;
    let alive = true;
    const key = `${kind}:${id}|${image.url}`;
    const request = async () => {
      const input =
        image.kind === 'upload'
          ? { kind: 'upload' as const, name: image.file.name, base64: await readBase64(image.file) }
          : { kind: 'stored' as const, hash: image.hash };
      return client.api['previews.predict']({ model: { kind, id }, image: input });
    };
    request().then(
      (result) => alive && setOutcome({ key, result, error: null }),
      (e: unknown) => alive && setOutcome({ key, result: null, error: errorMessage(e) }),
    );
    return () => {
      alive = false;
    };
  }, [client, kind, id, image]);
  const current = outcome && outcome.key === requestKey ? outcome : null;
  const busy = requestKey !== null && current === null;
  const result = current?.result ?? null;
  const error = listError ?? current?.error ?? null;

  return (
    <section className="page previews-page" aria-labelledby="previews-title">
      <header className="page-header">
        <h1 id="previews-title">Previews</h1>
        <label className="preview-model">
          Model{' '}
          <select
            className="input input-small"
            aria-label="Model to try"
            value={sourceKey(chosen)}
            onChange={(e) => {
              const [kind, id] = e.target.value.split(':');
              navigate({ name: 'previews', source: { kind: kind as PreviewSource['kind'], id: Number(id) } });
            }}
          >
            {chosen ? null : <option value="">no model imported</option>}
            {models && models.length > 0 ? (
              <optgroup label="Models">
                {models.map((m) => (
                  <option key={m.id} value={`model:${m.id}`}>
                    {m.name}
                  </option>
                ))}
              </optgroup>
            ) : null}
            {runs.length > 0 ? (
              <optgroup label="Trained runs">
                {runs.map((r) => (
                  <option key={r.id} value={`run:${r.id}`}>
                    {r.name} ({r.status})
                  </option>
                ))}
              </optgroup>
            ) : null}
          </select>
        </label>
      </header>

      {models !== null && !chosen ? (
        <div className="callout" role="status">
          <span>
            Import a model on the <a href="#/models">Models</a> page (or train a run) to try it here.
          </span>
        </div>
      ) : null}

      <div className="preview-layout">
        <div className="preview-stage-column">
          <ImageDropZone testId="preview-drop" fileTestId="preview-file" onFile={(file) => show({ kind: 'upload', file, url: URL.createObjectURL(file) })}>
            {image ? (
              <div className="preview-stage">
                <img src={image.url} alt={image.kind === 'upload' ? image.file.name : image.name} data-testid="preview-image" />
                {result && overlay ? <SaliencyOverlay saliency={result.saliency} opacity={opacity} /> : null}
              </div>
            ) : (
              <p className="muted">Drop an image here</p>
            )}
          </ImageDropZone>
          <div className="preview-overlay-controls" role="group" aria-label="Overlay settings">
            <label>
              <input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} /> Show attention overlay
            </label>
            <label>
              Opacity{' '}
              <input
                type="range"
                min={0}
                max={1}
                step={0.05}
                value={opacity}
                disabled={!overlay}
                onChange={(e) => setOpacity(Number(e.target.value))}
                aria-label="Overlay opacity"
              />
            </label>
          </div>
          <DatasetPicker onPick={(item) => show({ kind: 'stored', hash: item.hash, name: item.fileName, url: client.mediaUrl('image', item.hash) })} />
        </div>

        <div className="panel preview-results" aria-live="polite">
          <h2 className="panel-title">
            Top classes {result ? <span className="muted">{result.modelName}</span> : null}
          </h2>
          {error ? (
            <div className="callout callout-error" role="alert" data-testid="preview-error">
              <span>{error}</span>
            </div>
          ) : null}
          {busy ? <p className="muted">Predicting…</p> : null}
          {result ? (
            <ol className="preview-top" data-testid="preview-top">
              {result.top.map((c) => (
                <li key={c.label} className="preview-class" data-testid="preview-class" data-label={c.label}>
                  <span className="preview-label" title={c.label}>
                    {c.label}
                  </span>
                  <span className="preview-track">
                    <span className="preview-fill" style={{ width: `${(c.probability * 100).toFixed(1)}%` }} />
                  </span>
                  <span className="preview-prob">{(c.probability * 100).toFixed(1)}%</span>
                </li>
              ))}
            </ol>
          ) : !busy && !error ? (
            <p className="muted">Drop an image, choose one, or pick one from a dataset.</p>
          ) : null}
          {result ? (
            <p className="muted preview-note">
              The overlay is the attention rollout (Abnar &amp; Zuidema 2020) of the class token over the {result.saliency.rows}×
              {result.saliency.cols} patch grid: red where the prediction drew most.
            </p>
          ) : null}
        </div>
      </div>
    </section>
  );
}

/** The patch-grid map on a tiny canvas stretched over the image: the browser smooths it bilinearly. */
function SaliencyOverlay({ saliency, opacity }: { saliency: PreviewResult['saliency']; opacity: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext('2d');
    if (!context) return;
    context.putImageData(new ImageData(saliencyRgba(saliency.values), saliency.cols, saliency.rows), 0, 0);
  }, [saliency]);
  return (
    <canvas
      ref={canvas}
      className="preview-overlay"
      width={saliency.cols}
      height={saliency.rows}
      style={{ opacity }}
      data-testid="preview-overlay"
      data-rows={saliency.rows}
      data-cols={saliency.cols}
      aria-label="Attention map"
      role="img"
    />
  );
}

/** The first images of a dataset as thumbnails; clicking one previews it (also the Generate page's edit input). */
export function DatasetPicker({ onPick }: { onPick: (item: ImageItem) => void }) {
  const client = useStudio();
  const [datasets, setDatasets] = useState<DatasetSummary[]>([]);
  const [datasetId, setDatasetId] = useState<number | null>(null);
  const [page, setPage] = useState<{ datasetId: number; items: ImageItem[] } | null>(null);

  useEffect(() => {
    let alive = true;
    client.api['datasets.list']({}).then((list) => alive && setDatasets(list.filter((d) => d.imageCount > 0)), () => undefined);
    return () => {
      alive = false;
    };
  }, [client]);

  useEffect(() => {
    if (datasetId === null) return;
    let alive = true;
    client.api['images.page']({ datasetId, offset: 0, limit: PICK_LIMIT }).then(
      (answer) => alive && setPage({ datasetId, items: answer.items }),
      () => alive && setPage({ datasetId, items: [] }),
    );
    return () => {
      alive = false;
    };
  }, [client, datasetId]);

  const items = page && page.datasetId === datasetId ? page.items : [];
  if (datasets.length === 0) return null;
  return (
    <div className="preview-picker">
      <label>
        From a dataset{' '}
        <select className="input input-small" value={datasetId ?? ''} onChange={(e) => setDatasetId(e.target.value ? Number(e.target.value) : null)}>
          <option value="">choose…</option>
          {datasets.map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
        </select>
      </label>
      {items.length > 0 ? (
        <div className="preview-thumbs" role="list" aria-label="Dataset images">
          {items.map((item) => (
            <button key={item.id} type="button" role="listitem" className="preview-thumb" title={item.fileName} onClick={() => onPick(item)}>
              <img src={client.mediaUrl('thumb', item.hash)} alt={item.fileName} loading="lazy" />
            </button>
          ))}
        </div>
      ) : null}
    </div>
  );
}
