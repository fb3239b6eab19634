// Diffusion quality benchmark: the engine's own sampler on the starter DiT
// (resources/models/dit-fashion), judged by the starter classifier (resources/models/vit-fashion):
//   - per-class agreement: how often the classifier names the class a sample was asked for;
//   - a Fréchet distance on the classifier's pooled features (FID's formula on other features, so
//     not FID) between the samples and real t10k images, next to the same distance between two
//     disjoint sets of real t10k images of the same sizes (what "as good as real" reads as here).
//   npm run bench:diffusion [-- --per-class N] [-- --steps S] [-- --cfg S] [-- --eta E] [-- --seed X] [-- --real N] [-- --json]
// Fine-tune mode: trains the DiT with a PEFT method on the training images of one class, all labels
// dropped to the null class, and reports how many unconditional samples the classifier assigns to
// that class before and after (the same seeds):
//   npm run bench:diffusion -- --finetune lora|sara|ssf|full [--class Bag] [--ft-steps N] [--ft-batch N] [--ft-lr X] [--samples N] [--steps S]
// The data come from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist or $FASHION_MNIST_DIR).
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../main/engine/backend';
import { readIdx } from '../main/engine/data/idx';
import { loadDitFolder, type LoadedDit } from '../main/engine/diffusion/dit-folder';
import { DIFFUSION_METHODS, diffusionStep, disposeTuner, initDiffusionTuner, tunedModel, type DiffusionMethod } from '../main/engine/diffusion/finetune';
import { frechetDistance, meanAndCovariance } from '../main/engine/diffusion/frechet';
import { generate } from '../main/engine/diffusion/generate';
import { disposeModel, loadModelFolder, type LoadedModel } from '../main/engine/io/checkpoint';
import { vitFeatures, vitHead, type VitHooks, type VitParams } from '../main/engine/models/vit';
import { makeSchedule } from '../main/engine/diffusion/schedule';
import { Rng } from '../main/engine/train/rng';

const ROOT = path.resolve(__dirname, '..');
const FASHION = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/** Classifier features [n][D] and predicted classes of 8-bit images (H·W·C each). */
function judge(classifier: LoadedModel, images: readonly Uint8Array[]): { features: Float32Array[]; predictions: number[] } {
  const { imageSize: s, numChannels: c } = classifier.config;
  const { rescale, normalize } = classifier.preprocess;
  const features: Float32Array[] = [];
  const predictions: number[] = [];
  for (let first = 0; first < images.length; first += 100) {
    const batch = images.slice(first, first + 100);
    const data = new Float32Array(batch.length * s * s * c);
    batch.forEach((img, i) => {
      for (let k = 0; k < img.length; k++) {
        const ch = k % c;
        const v = img[k]! * (rescale ?? 1);
        data[i * img.length + k] = normalize ? (v - normalize.mean[ch]!) / normalize.std[ch]! : v;
      }
    });
    const [f, p] = tf.tidy(() => {
      const feats = vitFeatures(classifier.params, classifier.config, tf.tensor4d(data, [batch.length, s, s, c]));
      return [feats, tf.argMax(vitHead(classifier.params, feats), 1)];
    });
    const fd = f!.dataSync() as Float32Array;
    const d = f!.shape[1]!;
    for (let i = 0; i < batch.length; i++) features.push(fd.slice(i * d, (i + 1) * d));
    predictions.push(...Array.from(p!.dataSync() as Int32Array));
    tf.dispose([f!, p!]);
  }
  return { features, predictions };
}

/** Unconditional samples (the null class) judged by the classifier: the share of `target`. */
function unconditionalShare(dit: LoadedDit, classifier: LoadedModel, n: number, steps: number, seed: number, target: number, hooks?: VitHooks, params?: VitParams): number {
  const model = params ? { ...dit, params } : dit;
  const pixels = generate(model, { classes: Array(n).fill(dit.config.numClasses) as number[], steps, seed, cfg: 1, sampler: 'ddim', eta: 0, hooks });
  return judge(classifier, pixels).predictions.filter((p) => p === target).length / n;
}

async function finetuneMode(method: DiffusionMethod, values: Record<string, string | boolean | undefined>): Promise<void> {
  const backend = await initBackend();
  const dit = await loadDitFolder(path.join(ROOT, 'resources', 'models', 'dit-fashion'));
  const classifier = await loadModelFolder(path.join(ROOT, 'resources', 'models', 'vit-fashion'));
  const className = String(values.class ?? 'Bag');
  const target = dit.id2label.indexOf(className);
  if (target < 0) throw new Error(`--class ${className} is not one of ${dit.id2label.join(', ')}`);
  const [ftSteps, batchSize, lr, n, steps] = [values['ft-steps'] ?? '100', values['ft-batch'] ?? '16', values['ft-lr'] ?? '3e-3', values.samples ?? '40', values.steps ?? '25'].map(Number) as [number, number, number, number, number];

  const images = await readIdx(path.join(FASHION, 'train-images-idx3-ubyte.gz'));
  const labels = await readIdx(path.join(FASHION, 'train-labels-idx1-ubyte.gz'));
  const px = images.dims[1]! * images.dims[2]!;
  const pool = Array.from(labels.data.keys()).filter((i) => labels.data[i] === target).slice(0, 1000);

  const before = unconditionalShare(dit, classifier, n, steps, 0, target);
  const rng = Rng.fromSeed(0);
  const schedule = makeSchedule(dit.schedule);
  const tuner = initDiffusionTuner(dit.params, dit.config, method, method === 'lora' ? { r: 8, alpha: 16, targets: ['qkv', 'fc1', 'fc2'] } : {}, rng);
  const started = performance.now();
  let loss = 0;
  for (let step = 1; step <= ftSteps; step++) {
    const idx = Array.from({ length: batchSize }, () => pool[rng.int(pool.length)]!);
    const data = new Float32Array(batchSize * px);
    idx.forEach((img, i) => {
      for (let k = 0; k < px; k++) data[i * px + k] = images.data[img * px + k]! / 127.5 - 1;
    });
    const x0 = tf.tensor4d(data, [batchSize, images.dims[1]!, images.dims[2]!, 1]);
    // Every label dropped: the fine-tune moves the unconditional model towards the class.
    loss = diffusionStep(dit.params, dit.config, tuner, { x0, labels: idx.map(() => target) }, schedule, rng, { lr, classDropout: 1 });
    x0.dispose();
    if (step % 20 === 0) process.stderr.write(`  ${method} step ${step}/${ftSteps} loss ${loss.toFixed(4)} ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const trainS = (performance.now() - started) / 1000;
  const tuned = tunedModel(dit.params, dit.config, tuner);
  const after = unconditionalShare(dit, classifier, n, steps, 0, target, tuned.hooks, tuned.params);
  const trainableCount = Object.values(tuner.trainable).filter((t) => t.dtype === 'float32').reduce((a, t) => a + t.size, 0);
  const result = { backend: backend.name, method, class: className, ft_steps: ftSteps, ft_batch: batchSize, ft_lr: lr, trainable_params: trainableCount, train_s: trainS, final_loss: loss, samples: n, sampling_steps: steps, share_before: before, share_after: after, load_average_1m: loadavg()[0] };
  process.stdout.write(
    values.json
      ? JSON.stringify(result) + '\n'
      : `${method} on ${pool.length} "${className}" training images, ${ftSteps} steps of ${batchSize} (lr ${lr}, ${trainableCount.toLocaleString('en')} trainable) in ${trainS.toFixed(0)} s, last loss ${loss.toFixed(4)}\n` +
          `unconditional samples (${n}, DDIM ${steps} steps, same seeds) classified as ${className}: before ${before.toFixed(3)}, after ${after.toFixed(3)}\n`,
  );
  disposeTuner(tuner);
  tf.dispose(Object.values(dit.params));
  disposeModel(classifier);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'per-class': { type: 'string', default: '10' },
      steps: { type: 'string', default: '50' },
      cfg: { type: 'string', default: '3' },
      eta: { type: 'string', default: '0' },
      seed: { type: 'string', default: '0' },
      real: { type: 'string', default: '1000' },
      json: { type: 'boolean', default: false },
      finetune: { type: 'string' },
      class: { type: 'string' },
      'ft-steps': { type: 'string' },
      'ft-batch': { type: 'string' },
      'ft-lr': { type: 'string' },
      samples: { type: 'string' },
    },
  });
  if (values.finetune) {
    if (!(DIFFUSION_METHODS as readonly string[]).includes(values.finetune)) throw new Error(`--finetune takes ${DIFFUSION_METHODS.join(', ')}`);
    return finetuneMode(values.finetune as DiffusionMethod, { ...values, steps: process.argv.includes('--steps') ? values.steps : undefined });
  }
  const perClass = Number(values['per-class']);
  const steps = Number(values.steps);
  const cfg = Number(values.cfg);
  const eta = Number(values.eta);
  const seed = Number(values.seed);
  const realCount = Number(values.real);

  const backend = await initBackend();
  const dit = await loadDitFolder(path.join(ROOT, 'resources', 'models', 'dit-fashion'));
  const classifier = await loadModelFolder(path.join(ROOT, 'resources', 'models', 'vit-fashion'));
  const k = dit.config.numClasses;
  const classes = Array.from({ length: k * perClass }, (_, i) => Math.floor(i / perClass));

  const images = await readIdx(path.join(FASHION, 't10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(path.join(FASHION, 't10k-labels-idx1-ubyte.gz'));
  const px = images.dims[1]! * images.dims[2]!;
  const real = (from: number, n: number) => Array.from({ length: n }, (_, i) => images.data.subarray((from + i) * px, (from + i + 1) * px));
  const realA = judge(classifier, real(0, realCount));
  const realB = judge(classifier, real(realCount, classes.length));
  const realAccuracy = realA.predictions.filter((p, i) => p === labels.data[i]).length / realCount;

  const started = performance.now();
  let lastLog = started;
  const samples = generate(dit, {
    classes,
    steps,
    seed,
    cfg,
    sampler: 'ddim',
    eta,
    onProgress: (first, done, total) => {
      if (!values.json && performance.now() - lastLog > 15000) {
        lastLog = performance.now();
        process.stderr.write(`  sampling: samples ${first}…, step ${done}/${total}, ${((lastLog - started) / 1000).toFixed(0)} s\n`);
      }
    },
  });
  const samplingS = (performance.now() - started) / 1000;
  const generated = judge(classifier, samples);

  const perClassAgreement = Array.from({ length: k }, (_, c) => {
    const idx = classes.flatMap((cls, i) => (cls === c ? [i] : []));
    return idx.filter((i) => generated.predictions[i] === c).length / idx.length;
  });
  const agreement = generated.predictions.filter((p, i) => p === classes[i]).length / classes.length;
  const d = realA.features[0]!.length;
  const statsA = meanAndCovariance(realA.features, d);
  const fdGenerated = frechetDistance(meanAndCovariance(generated.features, d), statsA, d);
  const fdReal = frechetDistance(meanAndCovariance(realB.features, d), statsA, d);
  const load = loadavg()[0]!;
  const result = {
    backend: backend.name,
    samples: classes.length,
    per_class: perClass,
    steps,
    cfg,
    eta,
    seed,
    sampling_s: samplingS,
    ms_per_step: (samplingS * 1000) / steps / Math.ceil(classes.length / 100),
    agreement,
    per_class_agreement: Object.fromEntries(dit.id2label.map((name, c) => [name, perClassAgreement[c]])),
    frechet_classifier_features: fdGenerated,
    frechet_real_vs_real: fdReal,
    real_images: realCount,
    classifier_real_accuracy: realAccuracy,
    load_average_1m: load,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    const w = Math.max(...dit.id2label.map((n) => n.length));
    process.stdout.write(
      [
        `DiT ${dit.name} (${dit.paramCount.toLocaleString('en')} params), DDIM ${steps} steps, η ${eta}, guidance ${cfg}, seed ${seed}, ${backend.name}`,
        `sampling  ${classes.length} samples in ${samplingS.toFixed(1)} s (1-min load average ${load.toFixed(1)} on this machine)`,
        `agreement ${agreement.toFixed(3)} (classifier ${classifier.summary.name}: ${realAccuracy.toFixed(3)} on ${realCount} real t10k images)`,
        ...dit.id2label.map((name, c) => `  ${name.padEnd(w)}  ${perClassAgreement[c]!.toFixed(2)}`),
        `Fréchet distance on classifier features (not FID), vs ${realCount} real t10k images:`,
        `  samples (${classes.length})          ${fdGenerated.toFixed(2)}`,
        `  other real t10k images (${classes.length}) ${fdReal.toFixed(2)}`,
      ].join('\n') + '\n',
    );
  }
  tf.dispose(Object.values(dit.params));
  disposeModel(classifier);
}

void main();
