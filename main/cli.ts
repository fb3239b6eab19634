// peft-studio command line: a table of subcommands over the same engine the app uses.
// Errors print one line on stderr (the stack only with --debug) and exit non-zero.
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from './engine/backend';
import { loadDitFolder } from './engine/diffusion/dit-folder';
import { DIFFUSION_METHODS, disposeTuner, loadDiffusionAdapter, saveDiffusionAdapter, tunedModel, type DiffusionMethod, type DiffusionTuner } from './engine/diffusion/finetune';
import { ditClassEpsilon, editImages, type EditOptions } from './engine/diffusion/edit';
import { generate, toPixels, writePng } from './engine/diffusion/generate';
import { readDitImage } from './engine/diffusion/image-input';
import { makeSchedule } from './engine/diffusion/schedule';
import { DEFAULT_CROP_SCALES, ditAtSize, fineTuneSingleImage } from './engine/diffusion/single-image';
import { trainDiffusion } from './engine/diffusion/train';
import { openDataset } from './engine/data/dataset';
import { evaluate, type Prediction } from './engine/eval';
import { writeFileAtomic } from './engine/io/atomic';
import { disposeModel, loadModelFolder } from './engine/io/checkpoint';
import { parseOptions } from './engine/methods/framework';
import { getMethod, listMethods } from './engine/methods/registry';
import { loadLatestCheckpoint } from './engine/train/checkpoint';
import { openTrainingData } from './engine/train/data';
import { parseTrainSpec, type TrainSpecInput } from './engine/train/spec';
import { Trainer, type TrainEvent } from './engine/train/trainer';
import { importModel } from './services/models';
import { defaultDataDir } from './services/paths';
import { openStore } from './store';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

interface Command {
  summary: string;
  usage: string;
  run(args: string[], io: CliIO): Promise<number>;
}

/** A usage mistake: reported with the command's usage line. */
class UsageError extends Error {}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

const fmt = (x: number | null, digits = 4) => (x === null ? '-' : x.toFixed(digits));

const evalCommand: Command = {
  summary: 'score a model folder on a labelled data folder (ImageFolder or IDX)',
  usage: 'peft-studio eval --model DIR --data DIR [--limit N] [--batch N] [--predictions FILE] [--json] [--debug]',
  async run(args, io) {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        data: { type: 'string' },
        limit: { type: 'string' },
        batch: { type: 'string' },
        predictions: { type: 'string' },
        json: { type: 'boolean', default: false },
        debug: { type: 'boolean', default: false },
      },
    });
    if (!values.model) throw new UsageError('--model DIR is required');
    if (!values.data) throw new UsageError('--data DIR is required');
    const limit = positiveInt(values.limit, '--limit');
    const batchSize = positiveInt(values.batch, '--batch') ?? 32;

    const backend = await initBackend();
    const model = await loadModelFolder(values.model);
    try {
      const dataset = await openDataset(values.data, model.id2label);
      const lines: string[] = [];
      const onPrediction = values.predictions
        ? (p: Prediction) =>
            lines.push(JSON.stringify({ file: p.id, label: model.id2label[p.label], pred: model.id2label[p.pred], logits: p.logits }))
        : undefined;
      const result = await evaluate(model, dataset, { batchSize, limit, onPrediction });
      if (values.predictions) await writeFileAtomic(values.predictions, [Buffer.from(lines.join('\n') + '\n')]);

      if (values.json) {
        io.out(
          JSON.stringify({
            model: model.summary.name,
            layout: model.layout,
            params: model.paramCount,
            data: values.data,
            n: result.n,
            accuracy: result.accuracy,
            backend: backend.name,
            backend_reason: backend.reason,
            images_per_s: result.imagesPerSecond,
            forward_images_per_s: result.forwardImagesPerSecond,
            classes: result.classes,
            per_class: result.perClass,
            confusion: result.confusion,
          }) + '\n',
        );
        return 0;
      }
      const width = Math.max(5, ...result.classes.map((c) => c.length));
      const out: string[] = [
        `model     ${model.summary.name} (${model.layout} layout, ${model.paramCount.toLocaleString('en')} params)`,
        `data      ${values.data} (${result.n} images)`,
        `backend   ${backend.name} (${backend.reason})`,
        `accuracy  ${fmt(result.accuracy)} (${Math.round(result.accuracy * result.n)}/${result.n})`,
        `speed     ${result.imagesPerSecond.toFixed(1)} images/s end to end, ${result.forwardImagesPerSecond.toFixed(1)} images/s forward`,
        '',
        `${'class'.padEnd(width)}  precision  recall  support`,
        ...result.perClass.map(
          (c) => `${c.name.padEnd(width)}  ${fmt(c.precision).padStart(9)}  ${fmt(c.recall).padStart(6)}  ${String(c.support).padStart(7)}`,
        ),
        '',
        'confusion (rows: true class, columns: predicted)',
        `${''.padEnd(width)} ${result.classes.map((c) => c.padStart(5)).join('')}`,
        ...result.confusion.map((row, i) => `${result.classes[i]!.padEnd(width)} ${row.map((v) => String(v).padStart(5)).join('')}`),
      ];
      io.out(out.join('\n') + '\n');
      return 0;
    } finally {
      disposeModel(model);
    }
  },
};

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got "${value}"`);
  return n;
}

/** `--method-opt k=v`: v is read as JSON when it parses (numbers, booleans, arrays), else as text. */
function methodOptions(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--method-opt expects key=value, got "${pair}"`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* plain text, e.g. targets=query,value */
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

/** `--augment none | default | flip,crop,jitter` (crop keeps ≥ 60 % of the area, jitter 0.2). */
function augmentFlag(value: string | undefined): TrainSpecInput['augment'] | null {
  if (value === undefined || value === 'default') return null;
  if (value === 'none') return { flip: false, cropScale: null, colorJitter: 0 };
  const parts = value.split(',').map((p) => p.trim());
  const unknown = parts.filter((p) => p !== 'flip' && p !== 'crop' && p !== 'jitter');
  if (unknown.length > 0) throw new UsageError(`--augment takes none, default or a list of flip,crop,jitter (not ${unknown.join(', ')})`);
  return { flip: parts.includes('flip'), cropScale: parts.includes('crop') ? 0.6 : null, colorJitter: parts.includes('jitter') ? 0.2 : 0 };
}

function eventLine(e: TrainEvent, total: number): string | undefined {
  switch (e.type) {
    case 'start':
      return (
        `method    ${e.method}: ${e.trainableParams.toLocaleString('en')} trainable of ${e.totalParams.toLocaleString('en')} params` +
        `${e.featureCache ? ' (features cached)' : ''}\ndata      ${e.trainSize} train / ${e.valSize} val (${e.valSource === 'dataset' ? "the dataset's val split" : 'seeded stratified draw'}), ${e.classes.length} classes` +
        (e.cacheNote ? `\ncache     ${e.cacheNote}` : '') +
        (e.resumedFrom ? `\nresumed   from step ${e.resumedFrom.step} (${e.resumedFrom.dir})` : '')
      );
    case 'step': {
      const every = Math.max(1, Math.floor(total / 20));
      if (e.step !== 1 && e.step % every !== 0 && e.step !== total) return undefined;
      return `step ${String(e.step).padStart(String(total).length)}/${total}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.examplesPerS.toFixed(1)} ex/s`;
    }
    case 'eval':
      return `eval @${e.step}  val loss ${e.valLoss.toFixed(4)}  val acc ${e.valAccuracy.toFixed(4)}`;
    case 'checkpoint':
      return `checkpoint @${e.step}  ${e.path}`;
    case 'done':
      return undefined;
  }
}

/** single_image.json beside a single-image adapter: the class the image was learned as. */
const SINGLE_IMAGE_FILE = 'single_image.json';
interface SingleImageRecord {
  image: string;
  class: string;
  class_index: number;
  scales: readonly number[];
  image_size: number;
  /** The size the image was upsampled to for training (--train-size); absent: the model's size. */
  train_size?: number;
}

/** `--scales 0.5,0.75,1`: crop sides as fractions of the model's patch grid. */
function scalesFlag(value: string | undefined): readonly number[] {
  if (value === undefined) return DEFAULT_CROP_SCALES;
  const scales = value.split(',').map((v) => Number(v.trim()));
  if (scales.length === 0 || scales.some((x) => !(x > 0 && x <= 1))) throw new UsageError(`--scales takes fractions within (0, 1], e.g. 0.5,0.75,1; got "${value}"`);
  return scales;
}

/** `train --task diffusion`: fine-tunes a DiT folder (on a data folder or one image) and writes the method's tensors as an adapter. */
async function trainDiffusionCli(values: Record<string, string | boolean | string[] | undefined>, io: CliIO): Promise<number> {
  const method = String(values.method ?? '');
  if (!(DIFFUSION_METHODS as readonly string[]).includes(method)) throw new UsageError(`--method takes ${DIFFUSION_METHODS.join(', ')} for diffusion`);
  const str = (k: string) => values[k] as string | undefined;
  const steps = positiveInt(str('steps'), '--steps') ?? 200;
  const spec = {
    method: method as DiffusionMethod,
    methodOptions: methodOptions(values['method-opt'] as string[]),
    steps,
    batchSize: positiveInt(str('batch'), '--batch') ?? 16,
    lr: number(str('lr'), '--lr') ?? (method === 'full' ? 1e-4 : 3e-3),
    seed: number(str('seed'), '--seed') ?? 0,
    classDropout: number(str('class-dropout'), '--class-dropout') ?? 0.1,
  };
  const singleImage = str('single-image');
  if (singleImage && values.data) throw new UsageError('give --data DIR or --single-image FILE, not both');
  if (!singleImage && !values.data) throw new UsageError('--data DIR (or --single-image FILE) is required');
  if (singleImage && !values.class) throw new UsageError('--single-image needs --class C: the class the image is learned as');
  const scales = scalesFlag(str('scales'));
  const trainSize = positiveInt(str('train-size'), '--train-size');
  if (trainSize !== undefined && !singleImage) throw new UsageError('--train-size is a --single-image option');
  const outDir = str('out') ?? path.join('runs', `diffusion-${method}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const backend = await initBackend();
  const model = await loadDitFolder(str('model')!);
  try {
    const { imageSize, patchSize } = model.config;
    if (trainSize !== undefined && (trainSize < imageSize || trainSize % patchSize !== 0)) {
      throw new UsageError(`--train-size must be a multiple of the patch size ${patchSize} and at least the model's ${imageSize}, got ${trainSize}`);
    }
    const started = performance.now();
    const every = Math.max(1, Math.floor(steps / 20));
    const onStep = (step: number, loss: number) => {
      if (values.json) io.out(JSON.stringify({ type: 'step', step, loss }) + '\n');
      else if (step === 1 || step % every === 0 || step === steps) io.out(`step ${String(step).padStart(String(steps).length)}/${steps}  loss ${loss.toFixed(4)}\n`);
    };
    let tuner: DiffusionTuner;
    let singleClass: number | undefined;
    if (singleImage) {
      singleClass = classIndex(str('class')!, model.id2label);
      const image = await readDitImage(singleImage, model.config);
      try {
        tuner = fineTuneSingleImage(model, image, singleClass, { ...spec, scales, trainSize }, onStep);
      } finally {
        image.dispose();
      }
    } else {
      tuner = await trainDiffusion(model, await openTrainingData(str('data')!), spec, onStep);
    }
    try {
      await saveDiffusionAdapter(outDir, tuner, model.config, { baseModel: model.name, steps });
      if (singleImage) {
        // What `edit --adapter` reads as ε_ft's class (the file's name only: no paths of this machine).
        const record: SingleImageRecord = { image: path.basename(singleImage), class: model.id2label[singleClass!]!, class_index: singleClass!, scales, image_size: model.config.imageSize, ...(trainSize !== undefined && { train_size: trainSize }) };
        await writeFileAtomic(path.join(outDir, SINGLE_IMAGE_FILE), [Buffer.from(JSON.stringify(record, null, 2) + '\n')]);
      }
    } finally {
      disposeTuner(tuner);
    }
    const wallS = (performance.now() - started) / 1000;
    io.out(
      values.json
        ? JSON.stringify({ type: 'summary', task: 'diffusion', method, steps, wall_s: wallS, adapter_dir: outDir, backend: backend.name }) + '\n'
        : `done      ${steps} steps in ${wallS.toFixed(1)} s on ${backend.name}\nadapter   ${outDir}  (peft-studio sample --model ${str('model')} --adapter ${outDir} ...)\n`,
    );
    return 0;
  } finally {
    tf.dispose(Object.values(model.params));
  }
}

const trainCommand: Command = {
  summary: 'fine-tune a model folder on a data folder with a PEFT method',
  usage:
    'peft-studio train --model DIR --data DIR --method NAME [--method-opt k=v ...] [--steps N] [--batch N] [--lr X] [--seed N] ' +
    '[--val-fraction F] [--eval-every N] [--checkpoint-every N] [--optimizer adamw|sgd] [--weight-decay X] [--warmup N] ' +
    '[--label-smoothing X] [--limit-per-class N] [--augment none|default|flip,crop,jitter] [--out DIR] [--resume DIR] [--json] [--debug]\n' +
    '       peft-studio train --task diffusion --model DIT_DIR --data DIR --method full|lora|sara|ssf [--method-opt k=v ...] [--steps N] [--batch N] ' +
    '[--lr X] [--seed N] [--class-dropout P] [--out DIR] [--json]\n' +
    '       peft-studio train --task diffusion --model DIT_DIR --single-image FILE --class C [--scales 0.5,0.75,1] [--train-size PX] --method full|lora|sara|ssf ' +
    '[--method-opt k=v ...] [--steps N] [--batch N] [--lr X] [--seed N] [--class-dropout P] [--out DIR] [--json]',
  async run(args, io) {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        data: { type: 'string' },
        method: { type: 'string' },
        'method-opt': { type: 'string', multiple: true, default: [] },
        steps: { type: 'string' },
        batch: { type: 'string' },
        lr: { type: 'string' },
        seed: { type: 'string' },
        'val-fraction': { type: 'string' },
        'eval-every': { type: 'string' },
        'checkpoint-every': { type: 'string' },
        optimizer: { type: 'string' },
        'weight-decay': { type: 'string' },
        warmup: { type: 'string' },
        'label-smoothing': { type: 'string' },
        'limit-per-class': { type: 'string' },
        augment: { type: 'string' },
        out: { type: 'string' },
        resume: { type: 'string' },
        task: { type: 'string' },
        'class-dropout': { type: 'string' },
        'single-image': { type: 'string' },
        class: { type: 'string' },
        scales: { type: 'string' },
        'train-size': { type: 'string' },
        json: { type: 'boolean', default: false },
        debug: { type: 'boolean', default: false },
      },
    });
    if (!values.model) throw new UsageError('--model DIR is required');
    if (values.task === 'diffusion') return trainDiffusionCli(values, io);
    if (!values.data) throw new UsageError('--data DIR is required');
    for (const flag of ['single-image', 'class', 'scales', 'train-size'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is a diffusion option (--task diffusion)`);
    }
    if (values.task !== undefined && values.task !== 'classification') throw new UsageError(`--task takes classification or diffusion, got "${values.task}"`);
    if (!values.method && !values.resume) throw new UsageError(`--method NAME is required (${listMethods().map((m) => m.name).join(', ')})`);
    const opts = methodOptions(values['method-opt']);
    const augment = augmentFlag(values.augment);
    const flags: Partial<TrainSpecInput> = {
      method: values.method,
      methodOptions: values['method-opt'].length > 0 ? opts : undefined,
      steps: positiveInt(values.steps, '--steps'),
      batchSize: positiveInt(values.batch, '--batch'),
      lr: number(values.lr, '--lr'),
      seed: number(values.seed, '--seed'),
      valFraction: number(values['val-fraction'], '--val-fraction'),
      evalEvery: positiveInt(values['eval-every'], '--eval-every'),
      checkpointEvery: positiveInt(values['checkpoint-every'], '--checkpoint-every'),
      optimizer: values.optimizer as TrainSpecInput['optimizer'],
      weightDecay: number(values['weight-decay'], '--weight-decay'),
      warmupSteps: number(values.warmup, '--warmup'),
      labelSmoothing: number(values['label-smoothing'], '--label-smoothing'),
      limitPerClass: positiveInt(values['limit-per-class'], '--limit-per-class'),
      augment: augment ?? undefined,
    };
    const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
    // A resumed run takes its settings from the checkpoint; flags given again must agree (the
    // trainer refuses a changed setting rather than silently start another trajectory).
    let saved: Partial<TrainSpecInput> = {};
    if (values.resume) {
      const ck = await loadLatestCheckpoint(values.resume);
      tf.dispose([...Object.values(ck.state.trainable), ...Object.values(ck.state.optimizer.slots).flatMap((s) => Object.values(s))]);
      saved = ck.spec;
    }
    const spec = parseTrainSpec({ ...saved, ...given });
    // Options are checked before any tensor work so a typo fails fast.
    parseOptions(getMethod(spec.method), spec.methodOptions);
    const outDir =
      values.out ??
      (values.resume
        ? path.basename(values.resume).startsWith('step-')
          ? path.dirname(path.dirname(values.resume))
          : values.resume
        : path.join('runs', `${spec.method}-${new Date().toISOString().replace(/[:.]/g, '-')}`));

    const backend = await initBackend();
    const model = await loadModelFolder(values.model);
    let trainer: Trainer | undefined;
    const onSigint = () => trainer?.stop();
    try {
      const dataset = await openTrainingData(values.data);
      trainer = new Trainer({
        model,
        dataset,
        spec,
        outDir,
        resume: values.resume,
        onEvent: (e) => {
          if (values.json) io.out(JSON.stringify(e) + '\n');
          else {
            const line = eventLine(e, spec.steps);
            if (line) io.out(line + '\n');
          }
        },
      });
      // Ctrl-C checkpoints and ends the run; --resume continues it.
      process.once('SIGINT', onSigint);
      const s = await trainer.run();
      if (values.json) {
        io.out(
          JSON.stringify({
            type: 'summary',
            method: s.method,
            trainable_params: s.trainableParams,
            total_params: s.totalParams,
            val_accuracy: s.valAccuracy,
            val_loss: s.valLoss,
            steps: s.steps,
            wall_s: s.wallS,
            stopped: s.stopped,
            train_size: s.trainSize,
            val_size: s.valSize,
            val_source: s.valSource,
            adapter_dir: s.adapterDir,
            model_dir: s.modelDir,
            last_checkpoint: s.lastCheckpoint,
            backend: backend.name,
          }) + '\n',
        );
      } else {
        io.out(
          [
            `${s.stopped ? 'stopped' : 'done'}      ${s.steps} steps in ${s.wallS.toFixed(1)} s on ${backend.name}` +
              (s.valAccuracy === null ? '' : `, val acc ${fmt(s.valAccuracy)}`),
            ...(s.adapterDir ? [`adapter   ${s.adapterDir}`] : []),
            ...(s.modelDir ? [`model     ${s.modelDir}  (peft-studio eval --model ${s.modelDir} --data DIR)`] : []),
            ...(s.stopped && s.lastCheckpoint ? [`resume    peft-studio train --model ${values.model} --data ${values.data} --resume ${outDir}`] : []),
          ].join('\n') + '\n',
        );
      }
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
      disposeModel(model);
    }
  },
};

/** `--class`: a class name of the model's id2label, or its index. */
function classIndex(value: string, labels: readonly string[]): number {
  const byName = labels.indexOf(value);
  if (byName >= 0) return byName;
  const n = Number(value);
  if (value.trim() !== '' && Number.isInteger(n) && n >= 0 && n < labels.length) return n;
  throw new UsageError(`--class "${value}" is not a class of the model (${labels.join(', ')}, or 0…${labels.length - 1})`);
}

const sampleCommand: Command = {
  summary: 'generate class-conditional images with a DiT model folder (PNG files)',
  usage:
    'peft-studio sample --model DIR [--adapter DIR] --class C --n N --steps S --seed X [--cfg S] [--eta E] [--sampler ddim|ddpm] [--size PX] --out DIR [--json] [--debug]',
  async run(args, io) {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        class: { type: 'string' },
        n: { type: 'string' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        cfg: { type: 'string' },
        eta: { type: 'string' },
        sampler: { type: 'string' },
        size: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean', default: false },
        debug: { type: 'boolean', default: false },
      },
    });
    if (!values.model) throw new UsageError('--model DIR is required');
    if (!values.class) throw new UsageError('--class C is required');
    const sizeFlag = positiveInt(values.size, '--size');
    if (!values.out) throw new UsageError('--out DIR is required');
    const n = positiveInt(values.n, '--n') ?? 1;
    const steps = positiveInt(values.steps, '--steps') ?? 50;
    const seed = number(values.seed, '--seed') ?? 0;
    if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be an integer, got "${values.seed}"`);
    const cfg = number(values.cfg, '--cfg') ?? 3;
    const eta = number(values.eta, '--eta') ?? 0;
    if (eta < 0) throw new UsageError(`--eta must be ≥ 0, got "${values.eta}"`);
    const sampler = values.sampler ?? 'ddim';
    if (sampler !== 'ddim' && sampler !== 'ddpm') throw new UsageError(`--sampler takes ddim or ddpm, got "${sampler}"`);

    const backend = await initBackend();
    const model = await loadDitFolder(values.model);
    try {
      const cls = classIndex(values.class, model.id2label);
      if (steps > model.schedule.timesteps) throw new UsageError(`--steps must be at most ${model.schedule.timesteps}`);
      const size = sizeFlag ?? model.config.imageSize;
      const p = model.config.patchSize;
      if (size % p !== 0) throw new UsageError(`--size must be a multiple of the patch size ${p}, got ${size}`);
      await mkdir(values.out, { recursive: true });
      const started = performance.now();
      const adapter = values.adapter ? await loadDiffusionAdapter(values.adapter, model.config) : undefined;
      const tuned = adapter ? tunedModel(model.params, model.config, adapter) : undefined;
      // Another size runs the same weights on a larger (or smaller) patch grid, sin-cos positions computed for it.
      const sized = ditAtSize(tuned ? { ...model, params: tuned.params } : model, size);
      let pixels: Uint8Array[];
      try {
        pixels = generate(sized, { classes: Array(n).fill(cls) as number[], steps, seed, cfg, sampler, eta, hooks: tuned?.hooks });
      } finally {
        sized.dispose();
        if (adapter) tf.dispose(Object.values(adapter.trainable));
      }
      const wallS = (performance.now() - started) / 1000;
      const slug = model.id2label[cls]!.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || String(cls);
      const files: string[] = [];
      for (const [i, image] of pixels.entries()) {
        const file = path.join(values.out, `${slug}-seed${seed}-${String(i).padStart(3, '0')}.png`);
        await writePng(file, image, size, model.config.inChannels);
        files.push(file);
      }
      if (values.json) {
        io.out(JSON.stringify({ model: model.name, class: model.id2label[cls], class_index: cls, n, steps, seed, cfg, eta, sampler, size, wall_s: wallS, backend: backend.name, files }) + '\n');
      } else {
        io.out(`sampled   ${n} × ${model.id2label[cls]} (${size}×${size}, ${sampler}, ${steps} steps, cfg ${cfg}, η ${eta}, seed ${seed}) in ${wallS.toFixed(1)} s on ${backend.name}\nwrote     ${files.length} PNG files to ${values.out}\n`);
      }
      return 0;
    } finally {
      tf.dispose(Object.values(model.params));
    }
  },
};

/** `--window a,b`: the part of the schedule (0 = clean, 1 = pure noise) where β acts. */
function windowFlag(value: string | undefined): { from: number; to: number } {
  if (value === undefined) return { from: 0, to: 1 };
  const parts = value.split(',').map((v) => Number(v.trim()));
  const [from, to] = parts;
  if (parts.length !== 2 || !(from! >= 0 && to! <= 1 && from! <= to!)) throw new UsageError(`--window takes a,b with 0 ≤ a ≤ b ≤ 1, got "${value}"`);
  return { from: from!, to: to! };
}

/** ε_ft's class: --ft-class, else the class a single-image adapter was learned as. */
async function fineTunedClass(adapterDir: string, flag: string | undefined, labels: readonly string[]): Promise<number> {
  if (flag !== undefined) return classIndex(flag, labels);
  const record = await readFile(path.join(adapterDir, SINGLE_IMAGE_FILE), 'utf8').catch(() => null);
  if (record === null) throw new UsageError(`--ft-class C is required: ${adapterDir} records no single-image class`);
  return classIndex(String((JSON.parse(record) as Partial<SingleImageRecord>).class_index), labels);
}

const editCommand: Command = {
  summary: 'edit an image towards a class (SDEdit + model-based guidance with an optional fine-tuned adapter), PNG out',
  usage:
    'peft-studio edit --model DIR [--adapter DIR [--ft-class C]] --image FILE --class C [--scale S] [--beta B] [--window a,b] [--t0 T] [--steps N] [--seed X] --out FILE [--json] [--debug]',
  async run(args, io) {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        'ft-class': { type: 'string' },
        image: { type: 'string' },
        class: { type: 'string' },
        scale: { type: 'string' },
        beta: { type: 'string' },
        window: { type: 'string' },
        t0: { type: 'string' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean', default: false },
        debug: { type: 'boolean', default: false },
      },
    });
    if (!values.model) throw new UsageError('--model DIR is required');
    if (!values.image) throw new UsageError('--image FILE is required');
    if (!values.class) throw new UsageError('--class C is required');
    if (!values.out) throw new UsageError('--out FILE is required');
    if (values['ft-class'] !== undefined && !values.adapter) throw new UsageError('--ft-class needs --adapter DIR');
    const scale = number(values.scale, '--scale') ?? 3;
    const beta = number(values.beta, '--beta') ?? (values.adapter ? 0.5 : 0);
    if (beta < 0 || beta > 1) throw new UsageError(`--beta must be within 0…1, got "${values.beta}"`);
    if (beta > 0 && !values.adapter) throw new UsageError('--beta > 0 needs --adapter DIR (the fine-tuned model ε_ft)');
    const window = windowFlag(values.window);
    const t0 = number(values.t0, '--t0') ?? 0.6;
    if (t0 < 0 || t0 > 1) throw new UsageError(`--t0 must be within 0…1, got "${values.t0}"`);
    const steps = positiveInt(values.steps, '--steps') ?? 50;
    const seed = number(values.seed, '--seed') ?? 0;
    if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be an integer, got "${values.seed}"`);

    const backend = await initBackend();
    const model = await loadDitFolder(values.model);
    try {
      const target = classIndex(values.class, model.id2label);
      const ftClass = values.adapter ? await fineTunedClass(values.adapter, values['ft-class'], model.id2label) : undefined;
      const adapter = values.adapter ? await loadDiffusionAdapter(values.adapter, model.config) : undefined;
      const x0 = await readDitImage(values.image, model.config).catch((e: unknown) => {
        if (adapter) tf.dispose(Object.values(adapter.trainable));
        throw e;
      });
      const started = performance.now();
      let pixels: Uint8Array;
      try {
        const tuned = adapter ? tunedModel(model.params, model.config, adapter) : undefined;
        const options: EditOptions = {
          schedule: makeSchedule(model.schedule),
          targetClasses: [target],
          nullClass: model.config.numClasses,
          scale,
          beta,
          window,
          t0,
          steps,
          seed,
          ...(tuned && { fineTuned: { eps: ditClassEpsilon({ params: tuned.params, config: model.config }, tuned.hooks), classes: [ftClass!] } }),
        };
        const edited = editImages(ditClassEpsilon(model), x0, options);
        pixels = toPixels(edited)[0]!;
        edited.dispose();
      } finally {
        x0.dispose();
        if (adapter) tf.dispose(Object.values(adapter.trainable));
      }
      const wallS = (performance.now() - started) / 1000;
      await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
      await writePng(values.out, pixels, model.config.imageSize, model.config.inChannels);
      if (values.json) {
        io.out(
          JSON.stringify({
            model: model.name,
            class: model.id2label[target],
            class_index: target,
            adapter: values.adapter ?? null,
            ft_class: ftClass === undefined ? null : model.id2label[ftClass],
            scale,
            beta,
            window,
            t0,
            steps,
            seed,
            wall_s: wallS,
            backend: backend.name,
            file: values.out,
          }) + '\n',
        );
      } else {
        io.out(
          `edited    towards ${model.id2label[target]} (s ${scale}, β ${beta}${adapter ? ` with ε_ft(${model.id2label[ftClass!]}) in t ∈ [${window.from}, ${window.to}]` : ''}, t0 ${t0}, ${steps} steps, seed ${seed}) in ${wallS.toFixed(1)} s on ${backend.name}\nwrote     ${values.out}\n`,
        );
      }
      return 0;
    } finally {
      tf.dispose(Object.values(model.params));
    }
  },
};

const importModelCommand: Command = {
  summary: "register a model folder in the studio's store (PEFT_STUDIO_HOME or the per-user data folder)",
  usage: 'peft-studio import-model DIR [--json] [--debug]',
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, debug: { type: 'boolean', default: false } },
    });
    if (positionals.length !== 1) throw new UsageError('give exactly one model folder');
    // The store is opened only here: engine-only commands work without a data folder.
    const dataDir = defaultDataDir();
    await mkdir(dataDir, { recursive: true });
    const store = openStore(path.join(dataDir, 'studio.db'));
    try {
      await initBackend();
      const model = await importModel(store, positionals[0]!);
      io.out(
        values.json
          ? JSON.stringify(model) + '\n'
          : `imported  ${model.name} (${model.layout} layout, ${model.paramCount.toLocaleString('en')} params, ` +
              `${model.imageSize}×${model.imageSize}×${model.numChannels}, ${model.classes.length} classes) into ${dataDir}\n`,
      );
      return 0;
    } finally {
      store.close();
    }
  },
};

/**
 * Subcommands. Commands that need the store (import-model) open it themselves; the engine-only
 * ones stay usable without an app data folder.
 */
const COMMANDS: Readonly<Record<string, Command>> = {
  eval: evalCommand,
  train: trainCommand,
  'import-model': importModelCommand,
  sample: sampleCommand,
  edit: editCommand,
};

function help(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return ['usage: peft-studio <command> [options]', '', ...names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n]!.summary}`)].join('\n') + '\n';
}

const processIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs one command line; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`peft-studio: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (rest.includes('--debug')) io.err(`${e.stack ?? e.message}\n`);
    else io.err(`peft-studio ${name}: ${e.message.split('\n')[0]}\n`);
    if (err instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`usage: ${command.usage}\n`);
      return 2;
    }
    return 1;
  }
}
