import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { DIFFUSION_RUN_METHODS, isDiffusionModel, type ApiInput, type DatasetSummary, type MethodInfo, type ModelSummary, type RunEstimate } from '../../../preload/api';
import { usePageCrumbs } from '../../app/chrome';
import { navigate } from '../../app/router';
import { useStudio, useToast } from '../../app/StudioProvider';
import { EmptyState, Loading } from '../../components/EmptyState';
import { errorMessage, fieldErrors } from '../../lib/errors';
import { formatCount, formatInt } from '../../lib/format';
import { formatBytes, formatDuration, formatPercent, optionKind, optionText, parseOption } from './runsModel';

interface Catalog {
  datasets: DatasetSummary[];
  models: ModelSummary[];
  methods: MethodInfo[];
}

const TRAINING_FIELDS = [
  { key: 'steps', label: 'Steps', initial: '300', step: '1', min: '1', help: 'optimizer steps in all' },
  { key: 'batchSize', label: 'Batch size', initial: '32', step: '1', min: '1', help: 'images per step' },
  { key: 'lr', label: 'Learning rate', initial: '0.001', step: 'any', min: '0', help: 'peak rate of the cosine schedule' },
  { key: 'seed', label: 'Seed', initial: '0', step: '1', min: '0', help: 'initialisation, split and batch order' },
  { key: 'valFraction', label: 'Validation fraction', initial: '0.1', step: 'any', min: '0', help: 'share of unsplit images held out for validation' },
  { key: 'evalEvery', label: 'Evaluate every', initial: '50', step: '1', min: '1', help: 'steps between validation passes' },
  { key: 'checkpointEvery', label: 'Checkpoint every', initial: '100', step: '1', min: '1', help: 'steps between checkpoints (resume points)' },
] as const;

type TrainingKey = (typeof TRAINING_FIELDS)[number]['key'];

/** Validation belongs to classifiers: a diffusion run trains on every labelled image. */
const CLASSIFIER_ONLY: ReadonlySet<TrainingKey> = new Set(['valFraction', 'evalEvery']);

/** A diffusion run's own settings; an empty field takes the worker's default. */
const DIFFUSION_FIELDS = [
  { key: 'classDropout', label: 'Class dropout', initial: '0.1', step: 'any', min: '0', help: 'share of images trained as the null class (keeps guidance working)' },
  { key: 'previewEvery', label: 'Samples every', initial: '', step: '1', min: '1', help: 'steps between sample grids (empty: every quarter of the budget)' },
  { key: 'previewCount', label: 'Samples per grid', initial: '8', step: '1', min: '1', help: 'same seeds at every step, 16 at most' },
  { key: 'previewSteps', label: 'Sampling steps', initial: '20', step: '1', min: '1', help: 'DDIM steps per grid (fewer: faster, rougher)' },
] as const;

type DiffusionKey = (typeof DIFFUSION_FIELDS)[number]['key'];

export function NewRunPage() {
  usePageCrumbs([
    { label: 'Runs', href: '#/runs' },
    { label: 'New run', href: '#/runs/new' },
  ]);
  const client = useStudio();
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    Promise.all([client.api['datasets.list']({}), client.api['models.list']({}), client.api['methods.list']({})]).then(
      ([datasets, models, methods]) => alive && setCatalog({ datasets, models, methods }),
      (e: unknown) => alive && setLoadError(errorMessage(e)),
    );
    return () => {
      alive = false;
    };
  }, [client]);

  return (
    <section className="page" aria-labelledby="new-run-title">
      <header className="page-header">
        <h1 id="new-run-title">New run</h1>
      </header>
      {loadError ? (
        <div className="callout callout-error" role="alert">
          <span>Could not load datasets, models and methods: {loadError}</span>
        </div>
      ) : catalog === null ? (
        <Loading label="Loading datasets, models and methods…" />
      ) : catalog.datasets.length === 0 || catalog.models.length === 0 ? (
        <EmptyState title={catalog.datasets.length === 0 ? 'No datasets yet' : 'No models yet'} icon="▶">
          <p>
            A run fine-tunes a base model on a dataset. {catalog.datasets.length === 0 ? <a href="#/datasets">Create a dataset</a> : null}
            {catalog.datasets.length === 0 && catalog.models.length === 0 ? ' and ' : ' '}
            {catalog.models.length === 0 ? <a href="#/models">import a model</a> : null} first.
          </p>
        </EmptyState>
      ) : (
        <NewRunForm catalog={catalog} />
      )}
    </section>
  );
}

function NewRunForm({ catalog }: { catalog: Catalog }) {
  const client = useStudio();
  const toast = useToast();
  const [name, setName] = useState('');
  const [datasetId, setDatasetId] = useState(String(catalog.datasets.at(-1)!.id));
  const [modelId, setModelId] = useState(String(catalog.models.at(-1)!.id));
  const model = catalog.models.find((m) => String(m.id) === modelId);
  const diffusion = model !== undefined && isDiffusionModel(model);
  // A DiT takes only the methods with sites in it; a classifier every registered one.
  const methods = diffusion ? catalog.methods.filter((m) => DIFFUSION_RUN_METHODS.includes(m.name)) : catalog.methods;
  const [chosenMethod, setMethodName] = useState(catalog.methods.find((m) => m.name === 'lora')?.name ?? catalog.methods[0]?.name ?? '');
  const methodName = methods.some((m) => m.name === chosenMethod) ? chosenMethod : (methods.find((m) => m.name === 'lora') ?? methods[0])?.name ?? '';
  const method = methods.find((m) => m.name === methodName);
  const [diffusionTexts, setDiffusionTexts] = useState<Record<DiffusionKey, string>>(
    () => Object.fromEntries(DIFFUSION_FIELDS.map((f) => [f.key, f.initial])) as Record<DiffusionKey, string>,
  );
  const [optionTexts, setOptionTexts] = useState<Record<string, Record<string, string>>>({});
  const [training, setTraining] = useState<Record<TrainingKey, string>>(
    () => Object.fromEntries(TRAINING_FIELDS.map((f) => [f.key, f.initial])) as Record<TrainingKey, string>,
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // An estimate is of the settings it ran with: shown only while they stay the same.
  const settings = JSON.stringify([datasetId, modelId, methodName, optionTexts, training, diffusionTexts]);
  const [estimated, setEstimated] = useState<{ settings: string; estimate: RunEstimate } | null>(null);
  const estimate = estimated?.settings === settings ? estimated.estimate : null;
  const [estimating, setEstimating] = useState(false);

  const texts = useMemo(
    () => ({ ...Object.fromEntries((method?.options ?? []).map((o) => [o.key, optionText(o.default)])), ...optionTexts[methodName] }),
    [method, methodName, optionTexts],
  );
  const setOption = (key: string, text: string) =>
    setOptionTexts((all) => ({ ...all, [methodName]: { ...all[methodName], [key]: text } }));

  const dataset = catalog.datasets.find((d) => String(d.id) === datasetId);
  const labelled = dataset ? dataset.imageCount - dataset.unlabeledCount : 0;

  /** The form as a runs.create input, or null (with the field errors shown). */
  const collect = (): ApiInput<'runs.create'> | null => {
    const problems: Record<string, string> = {};
    const methodOptions: Record<string, unknown> = {};
    for (const option of method?.options ?? []) {
      try {
        methodOptions[option.key] = parseOption(texts[option.key] ?? '', option.default);
      } catch (e) {
        problems[`opt.${option.key}`] = (e as Error).message;
      }
    }
    const numbers = {} as Record<TrainingKey, number>;
    for (const field of TRAINING_FIELDS) {
      const value = Number(training[field.key]);
      if (training[field.key].trim() === '' || !Number.isFinite(value)) problems[field.key] = 'a number is required';
      numbers[field.key] = value;
    }
    const diffusionSettings: Partial<Record<DiffusionKey, number>> = {};
    for (const field of diffusion ? DIFFUSION_FIELDS : []) {
      const text = diffusionTexts[field.key].trim();
      if (text === '') continue;
      const value = Number(text);
      if (!Number.isFinite(value)) problems[`diffusion.${field.key}`] = 'a number is required';
      diffusionSettings[field.key] = value;
    }
    setErrors(problems);
    setFormError(null);
    if (Object.keys(problems).length > 0) return null;
    return {
      name: name.trim() || undefined,
      datasetId: Number(datasetId),
      modelId: Number(modelId),
      method: methodName,
      methodOptions,
      ...numbers,
      ...(diffusion ? { diffusion: diffusionSettings } : {}),
    };
  };

  const showError = (e: unknown) => {
    const fields = fieldErrors(e);
    const mapped: Record<string, string> = {};
    for (const [key, message] of Object.entries(fields)) {
      if (method?.options.some((o) => o.key === key)) mapped[`opt.${key}`] = message;
      else if (key) mapped[key] = message;
    }
    setErrors(mapped);
    setFormError(Object.keys(mapped).length > 0 && !fields[''] ? null : errorMessage(e));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const input = collect();
    if (!input) return;
    setBusy(true);
    try {
      const run = await client.api['runs.create'](input);
      toast.info(`Started “${run.name}”.`);
      navigate({ name: 'runs', view: { kind: 'run', id: run.id } });
    } catch (e) {
      showError(e);
    } finally {
      setBusy(false);
    }
  };

  const runEstimate = async () => {
    const input = collect();
    if (!input) return;
    setEstimating(true);
    setEstimated(null);
    try {
      setEstimated({ settings, estimate: await client.api['runs.estimate'](input) });
    } catch (e) {
      showError(e);
    } finally {
      setEstimating(false);
    }
  };

  const fieldError = (key: string, id: string) =>
    errors[key] ? (
      <p id={`${id}-error`} className="field-error" role="alert">
        {errors[key]}
      </p>
    ) : null;

  return (
    <form className="run-form" onSubmit={submit} noValidate aria-label="New run">
      <fieldset className="run-form-section" disabled={busy}>
        <legend>What to train</legend>
        <div className="field">
          <label htmlFor="run-name">Run name</label>
          <input
            id="run-name"
            className="input"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder={`${methodName} on ${dataset?.name ?? 'dataset'}`}
            autoComplete="off"
            aria-invalid={errors.name ? true : undefined}
          />
          {fieldError('name', 'run-name')}
        </div>
        <div className="field">
          <label htmlFor="run-dataset">Dataset</label>
          <select id="run-dataset" className="input" value={datasetId} onChange={(e) => setDatasetId(e.target.value)}>
            {catalog.datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({formatInt(d.imageCount)} images, {d.classCount} classes)
              </option>
            ))}
          </select>
          {errors.datasetId ? fieldError('datasetId', 'run-dataset') : (
            <p className="field-hint">
              {diffusion
                ? `${formatInt(labelled)} labelled images train the generator (the test split is held out); classes named like the model's condition it, others train unconditionally.`
                : `${formatInt(labelled)} labelled images train and validate; the test split is held out.`}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor="run-model">Base model</label>
          <select id="run-model" className="input" value={modelId} onChange={(e) => setModelId(e.target.value)}>
            {catalog.models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name} ({m.imageSize}×{m.imageSize}, {isDiffusionModel(m) ? 'diffusion' : m.layout})
              </option>
            ))}
          </select>
          {diffusion ? (
            <p className="field-hint" data-testid="diffusion-run-hint">
              A diffusion model: the run fine-tunes the generator and shows a grid of samples (same seeds) as it trains. Its classes:{' '}
              {model.classes.join(', ')}.
            </p>
          ) : null}
          {fieldError('modelId', 'run-model')}
        </div>
        <div className="field">
          <label htmlFor="run-method">Method</label>
          <select id="run-method" className="input" value={methodName} onChange={(e) => setMethodName(e.target.value)} aria-describedby="run-method-help">
            {methods.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
          </select>
          <p id="run-method-help" className="field-hint" data-testid="method-description">
            {method?.description}
          </p>
          {fieldError('method', 'run-method')}
        </div>
      </fieldset>

      <fieldset className="run-form-section" disabled={busy}>
        <legend>{methodName} options</legend>
        {method && method.options.length > 0 ? (
          <div className="run-form-grid">
            {method.options.map((option) => {
              const id = `opt-${option.key}`;
              const kind = optionKind(option.default);
              const text = texts[option.key] ?? '';
              return (
                <div className="field" key={`${methodName}.${option.key}`}>
                  {kind === 'boolean' ? (
                    <label className="check-label" htmlFor={id}>
                      <input
                        id={id}
                        type="checkbox"
                        checked={text === 'true'}
                        onChange={(e) => setOption(option.key, String(e.target.checked))}
                        aria-describedby={`${id}-help`}
                      />{' '}
                      {option.key}
                    </label>
                  ) : (
                    <>
                      <label htmlFor={id}>{option.key}</label>
                      <input
                        id={id}
                        className="input"
                        type={kind === 'number' ? 'number' : 'text'}
                        step={kind === 'number' ? 'any' : undefined}
                        value={text}
                        onChange={(e) => setOption(option.key, e.target.value)}
                        placeholder={kind === 'json' ? 'null' : kind === 'list' ? 'comma, separated' : undefined}
                        spellCheck={false}
                        autoComplete="off"
                        aria-invalid={errors[`opt.${option.key}`] ? true : undefined}
                        aria-describedby={`${id}-help`}
                      />
                    </>
                  )}
                  <p id={`${id}-help`} className="field-hint">
                    {option.description}
                  </p>
                  {fieldError(`opt.${option.key}`, id)}
                </div>
              );
            })}
          </div>
        ) : (
          <p className="muted">This method has no options.</p>
        )}
      </fieldset>

      <fieldset className="run-form-section" disabled={busy}>
        <legend>Training</legend>
        <div className="run-form-grid">
          {TRAINING_FIELDS.filter((field) => !diffusion || !CLASSIFIER_ONLY.has(field.key)).map((field) => (
            <div className="field" key={field.key}>
              <label htmlFor={`run-${field.key}`}>{field.label}</label>
              <input
                id={`run-${field.key}`}
                className="input"
                type="number"
                inputMode="decimal"
                step={field.step}
                min={field.min}
                value={training[field.key]}
                onChange={(e) => setTraining((t) => ({ ...t, [field.key]: e.target.value }))}
                aria-invalid={errors[field.key] ? true : undefined}
                aria-describedby={`run-${field.key}-help`}
              />
              <p id={`run-${field.key}-help`} className="field-hint">
                {field.help}
              </p>
              {fieldError(field.key, `run-${field.key}`)}
            </div>
          ))}
        </div>
      </fieldset>

      {diffusion ? (
        <fieldset className="run-form-section" disabled={busy}>
          <legend>Diffusion</legend>
          <div className="run-form-grid">
            {DIFFUSION_FIELDS.map((field) => (
              <div className="field" key={field.key}>
                <label htmlFor={`run-diffusion-${field.key}`}>{field.label}</label>
                <input
                  id={`run-diffusion-${field.key}`}
                  className="input"
                  type="number"
                  inputMode="decimal"
                  step={field.step}
                  min={field.min}
                  value={diffusionTexts[field.key]}
                  onChange={(e) => setDiffusionTexts((t) => ({ ...t, [field.key]: e.target.value }))}
                  aria-invalid={errors[`diffusion.${field.key}`] ? true : undefined}
                  aria-describedby={`run-diffusion-${field.key}-help`}
                />
                <p id={`run-diffusion-${field.key}-help`} className="field-hint">
                  {field.help}
                </p>
                {fieldError(`diffusion.${field.key}`, `run-diffusion-${field.key}`)}
              </div>
            ))}
          </div>
        </fieldset>
      ) : null}

      {formError ? (
        <div className="callout callout-error" role="alert" data-testid="run-create-error">
          <span>{formError}</span>
        </div>
      ) : null}
      {estimate ? <EstimateView estimate={estimate} steps={Number(training.steps)} /> : null}
      <div className="run-form-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start run'}
        </button>
        <button
          type="button"
          className="button"
          disabled={busy || estimating}
          onClick={() => void runEstimate()}
          title={`Runs a few training steps${diffusion ? ' and one sample grid' : ''} in a separate process to measure time per step and peak memory`}
        >
          {estimating ? 'Measuring…' : 'Estimate (dry run)'}
        </button>
        <a className="button button-ghost" href="#/runs">
          Cancel
        </a>
      </div>
    </form>
  );
}

const VERDICT: Record<RunEstimate['fits'], string> = {
  yes: 'Fits in memory',
  tight: 'Memory is tight',
  no: 'Will not fit',
};

const formatMs = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);

/** What the dry run measured, for the settings it ran with, and what to change when it won't do. */
function EstimateView({ estimate: e, steps }: { estimate: RunEstimate; steps: number }) {
  return (
    <section className="run-estimate" aria-labelledby="run-estimate-title" data-testid="run-estimate" data-fits={e.fits} role="status">
      <h2 id="run-estimate-title">Estimate: {VERDICT[e.fits]}</h2>
      <dl className="run-facts">
        <div>
          <dt>Trainable parameters</dt>
          <dd data-testid="estimate-params">
            {formatCount(e.trainableParams)} of {formatCount(e.totalParams)} ({formatPercent((100 * e.trainableParams) / e.totalParams)})
          </dd>
        </div>
        <div>
          <dt>Time per step</dt>
          <dd data-testid="estimate-step">
            {formatMs(e.msPerStep)}{' '}
            <span className="muted">(median of {e.stepsMeasured})</span>
          </dd>
        </div>
        {e.previews ? (
          <div>
            <dt>Sample grids</dt>
            <dd
              data-testid="estimate-previews"
              title={`Measured: one grid of ${e.previews.samplesPerGrid} samples × ${e.previews.samplingSteps} DDIM steps after the dry run's last step, times the grids the run samples`}
            >
              {formatInt(e.previews.grids)} × {formatMs(e.previews.msPerGrid)} = {e.previews.totalS < 60 ? formatMs(e.previews.totalS * 1000) : formatDuration(e.previews.totalS)}{' '}
              <span className="muted">
                ({formatPercent((100 * e.previews.totalS) / e.etaS)} of the time; measured: one grid of {e.previews.samplesPerGrid} samples × {e.previews.samplingSteps} DDIM steps)
              </span>
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Time for {formatInt(steps)} steps</dt>
          <dd
            data-testid="estimate-eta"
            title={e.previews ? 'Start-up, every step at the measured time, and every sample grid' : 'Start-up plus every step at the measured time; evaluations add to it'}
          >
            {formatDuration(e.etaS)}
          </dd>
        </div>
        <div>
          <dt>Peak memory</dt>
          <dd data-testid="estimate-memory" title={`Measured in the dry run: ${formatBytes(e.peakBytes)}; the image cache grows as images are first seen`}>
            {formatBytes(e.projectedPeakBytes)} <span className="muted">of {formatBytes(e.freeMemoryBytes)} free, {formatBytes(e.totalMemoryBytes)} in all</span>
          </dd>
        </div>
        <div>
          <dt>Images</dt>
          <dd>{e.previews ? `${formatInt(e.trainSize)} (every labelled image trains)` : `${formatInt(e.trainSize)} train · ${formatInt(e.valSize)} val`}</dd>
        </div>
      </dl>
      {e.advice.length > 0 ? (
        <ul data-testid="estimate-advice">
          {e.advice.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
