import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { isDiffusionModel, type DatasetSummary, type EditResult, type GeneratedImage, type ModelSummary } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { useStudio } from '../../app/StudioProvider';
import { ImageDropZone, usePickedImage } from '../../components/ImageDrop';
import { ProgressBar } from '../../components/ProgressBar';
import { errorMessage } from '../../lib/errors';
import { readBase64 } from '../datasets/dropFiles';
import { DatasetPicker } from '../previews/PreviewsPage';
import './generate.css';

type Tab = 'sample' | 'edit';

/** A number field bound to a string state, so the user can type freely; parsed on submit. */
function NumberField({ label, value, onChange, min, max, step, disabled, hint }: { label: string; value: string; onChange: (v: string) => void; min: number; max: number; step?: number; disabled?: boolean; hint?: ReactNode }) {
  return (
    <label className="field generate-field">
      <span>{label}</span>
      <input className="input input-small" type="number" aria-label={label} value={value} min={min} max={max} step={step ?? 1} disabled={disabled} onChange={(e) => onChange(e.target.value)} />
      {hint ? <span className="field-hint">{hint}</span> : null}
    </label>
  );
}

function ClassSelect({ label, model, value, onChange }: { label: string; model: ModelSummary; value: number; onChange: (v: number) => void }) {
  return (
    <label className="field generate-field">
      <span>{label}</span>
      <select className="input input-small" aria-label={label} value={value} onChange={(e) => onChange(Number(e.target.value))}>
        {model.classes.map((name, i) => (
          <option key={i} value={i}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

function ErrorCallout({ error }: { error: string | null }) {
  return error ? (
    <div className="callout callout-error" role="alert">
      <span>{error}</span>
    </div>
  ) : null;
}

/** Class-conditional samples and SINE-style edits with a diffusion (DiT) model. */
export function GeneratePage() {
  usePageCrumbs([{ label: 'Generate', href: '#/generate' }]);
  const client = useStudio();
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [modelId, setModelId] = useState<number | null>(null);
  const [tab, setTab] = useState<Tab>('sample');
  const [listError, setListError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    client.api['models.list']({}).then(
      (list) => {
        if (!alive) return;
        const dits = list.filter(isDiffusionModel);
        setModels(dits);
        setModelId((current) => current ?? dits[0]?.id ?? null);
      },
      (e: unknown) => alive && setListError(errorMessage(e)),
    );
    return () => {
      alive = false;
    };
  }, [client]);

  const model = models?.find((m) => m.id === modelId) ?? null;
  return (
    <section className="page generate-page" aria-labelledby="generate-title">
      <header className="page-header">
        <h1 id="generate-title">Generate</h1>
        <label className="generate-model">
          Model{' '}
          <select className="input input-small" aria-label="Diffusion model" value={modelId ?? ''} onChange={(e) => setModelId(Number(e.target.value))}>
            {models?.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
                {m.builtIn ? ' (built-in)' : ''}
              </option>
            ))}
          </select>
        </label>
      </header>
      <ErrorCallout error={listError} />
      {models !== null && models.length === 0 ? (
        <div className="callout" role="status">
          <span>
            No diffusion model: import a DiT folder (config.json with model_type &quot;dit&quot;) on the <a href="#/models">Models</a> page.
          </span>
        </div>
      ) : null}
      <div className="generate-tabs" role="tablist" aria-label="Generate or edit">
        {(['sample', 'edit'] as const).map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'button button-small button-primary' : 'button button-small'} onClick={() => setTab(t)}>
            {t === 'sample' ? 'Sample' : 'Edit'}
          </button>
        ))}
      </div>
      {model ? (
        <div role="tabpanel">{tab === 'sample' ? <SampleTab key={model.id} model={model} /> : <EditTab key={model.id} model={model} models={models ?? []} />}</div>
      ) : null}
    </section>
  );
}

function SampleTab({ model }: { model: ModelSummary }) {
  const client = useStudio();
  const [classId, setClassId] = useState(0);
  const [n, setN] = useState('8');
  const [steps, setSteps] = useState('25');
  const [seed, setSeed] = useState('0');
  const [cfg, setCfg] = useState('3');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [images, setImages] = useState<GeneratedImage[]>([]);
  const [selected, setSelected] = useState<GeneratedImage | null>(null);
  const [job, setJob] = useState<{ id: string; done: number; total: number } | null>(null);

  useEffect(
    () =>
      client.on('diffusion.progress', (payload) => {
        const progress = payload as { jobId: string; done: number; total: number };
        setJob((current) => (current && current.id === progress.jobId ? { ...current, done: progress.done, total: progress.total } : current));
      }),
    [client],
  );

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const jobId = `sample-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    setJob({ id: jobId, done: 0, total: 0 });
    setBusy(true);
    setError(null);
    try {
      const result = await client.api['diffusion.sample']({ modelId: model.id, classId, n: Number(n), steps: Number(steps), seed: Number(seed), cfg: Number(cfg), jobId });
      setImages(result);
      setSelected(null);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
      setJob(null);
    }
  };

  return (
    <div className="generate-layout">
      <form className="panel generate-form" onSubmit={submit} aria-label="Sample settings">
        <ClassSelect label="Class" model={model} value={classId} onChange={setClassId} />
        <NumberField label="Samples" value={n} onChange={setN} min={1} max={64} />
        <NumberField label="Steps" value={steps} onChange={setSteps} min={1} max={1000} hint="DDIM steps (η = 0)" />
        <NumberField label="Seed" value={seed} onChange={setSeed} min={0} max={2 ** 31 - 1} hint="Sample i of a seed is the same image every time." />
        <NumberField label="Guidance" value={cfg} onChange={setCfg} min={0} max={20} step={0.5} hint="Classifier-free guidance scale (1: the conditional model alone)." />
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
        {busy && job ? (
          <div className="generate-progress">
            <ProgressBar done={job.done} total={job.total} label="Sampling progress" testId="sample-progress" />
            <button type="button" className="button button-small" onClick={() => void client.api['jobs.cancel']({ jobId: job.id })} title="Stops after the current batch of 8 and keeps what is done">
              Cancel
            </button>
          </div>
        ) : null}
      </form>
      <div className="panel generate-results" aria-live="polite">
        <ErrorCallout error={error} />
        {images.length === 0 && !busy ? <p className="muted">Pick a class and generate.</p> : null}
        <div className="generate-grid" role="list" aria-label="Generated samples">
          {images.map((image) => (
            <button
              key={`${image.hash}-${image.index}`}
              type="button"
              role="listitem"
              className={selected?.index === image.index ? 'generate-tile generate-tile-selected' : 'generate-tile'}
              title={`${image.className}, seed ${image.seed}, sample ${image.index}`}
              onClick={() => setSelected(image)}
            >
              <img src={client.mediaUrl('image', image.hash)} alt={`${image.className} sample ${image.index}`} data-testid="sample-image" data-hash={image.hash} />
            </button>
          ))}
        </div>
        {selected ? <KeepPanel key={selected.hash} image={selected} /> : images.length > 0 ? <p className="muted">Select a sample to keep it in a dataset.</p> : null}
      </div>
    </div>
  );
}

function EditTab({ model, models }: { model: ModelSummary; models: ModelSummary[] }) {
  const client = useStudio();
  const [input, pick] = usePickedImage();
  const [targetClass, setTargetClass] = useState(0);
  const [scale, setScale] = useState('3');
  const [t0, setT0] = useState('0.6');
  const [steps, setSteps] = useState('20');
  const [seed, setSeed] = useState('0');
  // '' none, 'adapter' an adapter folder on the base model, else a model id.
  const [fineTunedChoice, setFineTunedChoice] = useState('');
  const [adapterPath, setAdapterPath] = useState('');
  const [fineTunedClass, setFineTunedClass] = useState(0);
  const [beta, setBeta] = useState('0.5');
  const [windowFrom, setWindowFrom] = useState('0.5');
  const [windowTo, setWindowTo] = useState('1');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<EditResult | null>(null);
  // Fine-tuned candidates: other DiTs of the same shape.
  const fineTunable = models.filter((m) => m.id !== model.id && m.imageSize === model.imageSize && m.numChannels === model.numChannels && m.classes.length === model.classes.length);
  const fineTuned = fineTunable.find((m) => String(m.id) === fineTunedChoice) ?? null;
  const withAdapter = fineTunedChoice === 'adapter';
  const guided = fineTuned !== null || withAdapter;

  const take: typeof pick = (next) => {
    pick(next);
    setResult(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!input) return;
    setBusy(true);
    setError(null);
    try {
      const image = input.kind === 'upload' ? { kind: 'upload' as const, name: input.file.name, base64: await readBase64(input.file) } : { kind: 'stored' as const, hash: input.hash };
      const edited = await client.api['diffusion.edit']({
        modelId: model.id,
        ...(fineTuned && { fineTuned: { kind: 'model' as const, modelId: fineTuned.id, classId: fineTunedClass } }),
        ...(withAdapter && { fineTuned: { kind: 'adapter' as const, path: adapterPath.trim(), classId: fineTunedClass } }),
        image,
        targetClass,
        scale: Number(scale),
        beta: guided ? Number(beta) : 0,
        window: { from: Number(windowFrom), to: Number(windowTo) },
        t0: Number(t0),
        steps: Number(steps),
        seed: Number(seed),
      });
      setResult(edited);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="generate-layout">
      <form className="panel generate-form" onSubmit={submit} aria-label="Edit settings">
        <ImageDropZone testId="edit-drop" fileTestId="edit-file" className="generate-drop" onFile={(file) => take({ kind: 'upload', file, url: URL.createObjectURL(file) })}>
          {input ? <img src={input.url} alt="Image to edit" className="generate-input" data-testid="edit-input" /> : <p className="muted">Drop an image here</p>}
        </ImageDropZone>
        <DatasetPicker onPick={(item) => take({ kind: 'stored', hash: item.hash, name: item.fileName, url: client.mediaUrl('image', item.hash) })} />
        <ClassSelect label="Target class" model={model} value={targetClass} onChange={setTargetClass} />
        <NumberField label="Guidance s" value={scale} onChange={setScale} min={0} max={20} step={0.5} />
        <NumberField label="Noise level t0" value={t0} onChange={setT0} min={0} max={1} step={0.05} hint="Fraction of the schedule the image is noised to (0: unchanged, 1: pure noise)." />
        <NumberField label="Steps" value={steps} onChange={setSteps} min={1} max={1000} />
        <NumberField label="Seed" value={seed} onChange={setSeed} min={0} max={2 ** 31 - 1} />
        <label className="field generate-field">
          <span>Fine-tuned model</span>
          <select className="input input-small" aria-label="Fine-tuned model" value={fineTunedChoice} onChange={(e) => setFineTunedChoice(e.target.value)}>
            <option value="">none</option>
            <option value="adapter">{model.name} + adapter folder…</option>
            {fineTunable.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        {withAdapter ? (
          <label className="field generate-field">
            <span>Adapter folder</span>
            <input className="input input-small" aria-label="Adapter folder" value={adapterPath} onChange={(e) => setAdapterPath(e.target.value)} placeholder="peft-studio train --task diffusion --out …" />
          </label>
        ) : null}
        {guided ? (
          <>
            <ClassSelect label="Fine-tuned class" model={fineTuned ?? model} value={fineTunedClass} onChange={setFineTunedClass} />
            <NumberField label="β" value={beta} onChange={setBeta} min={0} max={1} step={0.05} hint="Weight of the fine-tuned model inside the window." />
            <div className="field-row">
              <NumberField label="Window from" value={windowFrom} onChange={setWindowFrom} min={0} max={1} step={0.05} />
              <NumberField label="Window to" value={windowTo} onChange={setWindowTo} min={0} max={1} step={0.05} />
            </div>
          </>
        ) : (
          <p className="field-hint" data-testid="beta-note">
            No fine-tuned model: β = 0, so the edit follows the target class alone (SDEdit with classifier-free guidance).
          </p>
        )}
        <button type="submit" className="button button-primary" disabled={busy || !input}>
          {busy ? 'Editing…' : 'Edit'}
        </button>
      </form>
      <div className="panel generate-results" aria-live="polite">
        <ErrorCallout error={error} />
        {result ? (
          <>
            <div className="generate-compare">
              <figure>
                <img src={client.mediaUrl('image', result.before.hash)} alt="Before" data-testid="edit-before" />
                <figcaption>Before</figcaption>
              </figure>
              <figure>
                <img src={client.mediaUrl('image', result.after.hash)} alt={`After: ${result.after.className}`} data-testid="edit-after" data-hash={result.after.hash} />
                <figcaption>After: {result.after.className}</figcaption>
              </figure>
            </div>
            <p className="muted">{result.fineTunedName ? `Guided by ${result.fineTunedName} with β = ${result.betaUsed} inside the window.` : 'β = 0: no fine-tuned model was used.'}</p>
            <KeepPanel key={result.after.hash} image={result.after} />
          </>
        ) : !busy && !error ? (
          <p className="muted">Choose an image, a target class and edit.</p>
        ) : null}
      </div>
    </div>
  );
}

/** Adds a generated image to a dataset (through the import path), labeled with a class name. */
function KeepPanel({ image }: { image: GeneratedImage }) {
  const client = useStudio();
  const [datasets, setDatasets] = useState<DatasetSummary[]>([]);
  const [datasetId, setDatasetId] = useState<number | null>(null);
  const [className, setClassName] = useState(image.className);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  useEffect(() => {
    let alive = true;
    client.api['datasets.list']({}).then(
      (list) => {
        if (!alive) return;
        setDatasets(list);
        setDatasetId((current) => current ?? list[0]?.id ?? null);
      },
      () => undefined,
    );
    return () => {
      alive = false;
    };
  }, [client]);
  if (datasets.length === 0) return <p className="muted">Create a dataset to keep results in.</p>;
  const keep = async () => {
    if (datasetId === null) return;
    setStatus(null);
    try {
      await client.api['diffusion.keep']({ hash: image.hash, datasetId, ...(className.trim() && { className: className.trim() }) });
      setStatus({ kind: 'ok', text: `Kept in ${datasets.find((d) => d.id === datasetId)?.name ?? 'the dataset'}${className.trim() ? ` as ${className.trim()}` : ''}.` });
    } catch (e) {
      setStatus({ kind: 'error', text: errorMessage(e) });
    }
  };
  return (
    <div className="generate-keep" role="group" aria-label="Keep in a dataset">
      <span className="muted">Keep in a dataset:</span>
      <select className="input input-small" aria-label="Keep in dataset" value={datasetId ?? ''} onChange={(e) => setDatasetId(Number(e.target.value))}>
        {datasets.map((d) => (
          <option key={d.id} value={d.id}>
            {d.name}
          </option>
        ))}
      </select>
      <input className="input input-small" aria-label="Label as" value={className} onChange={(e) => setClassName(e.target.value)} placeholder="unlabeled" />
      <button type="button" className="button button-small" onClick={keep}>
        Keep
      </button>
      {status ? (
        <span role={status.kind === 'error' ? 'alert' : 'status'} className={status.kind === 'error' ? 'field-error' : 'muted'} data-testid="keep-status">
          {status.text}
        </span>
      ) : null}
    </div>
  );
}
