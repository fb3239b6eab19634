// SINE check on the starter DiT (resources/models/dit-fashion): for each of a few real t10k
// Fashion-MNIST images, LoRA is fine-tuned on that ONE image with patch-based training (random
// multi-scale crops with their own position embeddings), then the image is edited towards another
// class with SDEdit + model-based guidance, with ε_ft (β inside a window) and without it (β = 0:
// plain guidance towards the target). The starter classifier (resources/models/vit-fashion) says
// how many edits it calls the target class and how many it still calls the source class; the mean
// absolute pixel change says how much of the image moved. Timings: fine-tune and edit walls.
//   npm run bench:sine [-- --images N] [-- --ft-steps N] [-- --ft-batch N] [-- --ft-lr X] [-- --seeds N]
//                      [-- --t0 T] [-- --beta B] [-- --window a,b] [-- --steps S] [-- --scale S] [-- --large N] [-- --train-size PX] [-- --json]
// --large N also samples N images of the source class at twice the patch grid (56×56) with the base
// model and with the single-image LoRA, averages them down 2×2 to 28×28 for the classifier, and
// reports how many it calls the source class. --train-size PX fine-tunes SINE's way: on the image
// upsampled to PX (e.g. 56), with crops anywhere in that larger patch grid and its position table.
// The data come from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist or $FASHION_MNIST_DIR).
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../main/engine/backend';
import { readIdx } from '../main/engine/data/idx';
import { loadDitFolder } from '../main/engine/diffusion/dit-folder';
import { ditClassEpsilon, editImages, type EditOptions } from '../main/engine/diffusion/edit';
import { disposeTuner, tunedModel } from '../main/engine/diffusion/finetune';
import { generate, toPixels } from '../main/engine/diffusion/generate';
import { makeSchedule } from '../main/engine/diffusion/schedule';
import { DEFAULT_CROP_SCALES, ditAtSize, fineTuneSingleImage } from '../main/engine/diffusion/single-image';
import { disposeModel, loadModelFolder, type LoadedModel } from '../main/engine/io/checkpoint';
import { vitFeatures, vitHead } from '../main/engine/models/vit';
import { loadLine, quantile } from './shared';

const ROOT = path.resolve(__dirname, '..');
const FASHION = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/** Source class → edit target: pairs of garments a picture could plausibly turn into. */
const PAIRS: readonly [string, string][] = [
  ['T-shirt/top', 'Dress'],
  ['Pullover', 'Coat'],
  ['Sneaker', 'Ankle boot'],
  ['Trouser', 'Dress'],
  ['Ankle boot', 'Sneaker'],
  ['Coat', 'Pullover'],
  ['Sandal', 'Sneaker'],
  ['Dress', 'T-shirt/top'],
];

/** The classifier's class for each 8-bit image (H·W·C). */
function classify(classifier: LoadedModel, images: readonly Uint8Array[]): number[] {
  const { imageSize: s, numChannels: c } = classifier.config;
  const { rescale, normalize } = classifier.preprocess;
  const data = new Float32Array(images.length * s * s * c);
  images.forEach((img, i) =>
    img.forEach((v, k) => {
      const x = v * (rescale ?? 1);
      data[i * img.length + k] = normalize ? (x - normalize.mean[k % c]!) / normalize.std[k % c]! : x;
    }),
  );
  const predicted = tf.tidy(() => tf.argMax(vitHead(classifier.params, vitFeatures(classifier.params, classifier.config, tf.tensor4d(data, [images.length, s, s, c]))), 1));
  const out = Array.from(predicted.dataSync());
  predicted.dispose();
  return out;
}

const meanAbsChange = (a: Uint8Array, b: Uint8Array) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]!), 0) / a.length;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A one-channel 2s×2s image averaged over 2×2 blocks to s×s. */
function halve(image: Uint8Array, s: number): Uint8Array {
  return Uint8Array.from({ length: s * s }, (_, k) => {
    const [r, c] = [Math.floor(k / s) * 2, (k % s) * 2];
    return Math.round((image[r * 2 * s + c]! + image[r * 2 * s + c + 1]! + image[(r + 1) * 2 * s + c]! + image[(r + 1) * 2 * s + c + 1]!) / 4);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      images: { type: 'string', default: '6' },
      'ft-steps': { type: 'string', default: '150' },
      'ft-batch': { type: 'string', default: '8' },
      'ft-lr': { type: 'string', default: '3e-3' },
      seeds: { type: 'string', default: '4' },
      t0: { type: 'string', default: '0.6' },
      beta: { type: 'string', default: '0.5' },
      window: { type: 'string', default: '0.3,1' },
      steps: { type: 'string', default: '30' },
      scale: { type: 'string', default: '3' },
      large: { type: 'string', default: '0' },
      'train-size': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [nImages, ftSteps, ftBatch, ftLr, nSeeds, t0, beta, steps, scale] = [values.images, values['ft-steps'], values['ft-batch'], values['ft-lr'], values.seeds, values.t0, values.beta, values.steps, values.scale].map(Number) as number[] as [number, number, number, number, number, number, number, number, number];
  const large = Number(values.large);
  const trainSize = values['train-size'] === undefined ? undefined : Number(values['train-size']);
  const [from, to] = values.window.split(',').map(Number) as [number, number];
  if (nImages > PAIRS.length) throw new Error(`--images is at most ${PAIRS.length}`);

  const backend = await initBackend();
  const dit = await loadDitFolder(path.join(ROOT, 'resources', 'models', 'dit-fashion'));
  const classifier = await loadModelFolder(path.join(ROOT, 'resources', 'models', 'vit-fashion'));
  const images = await readIdx(path.join(FASHION, 't10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(path.join(FASHION, 't10k-labels-idx1-ubyte.gz'));
  const side = images.dims[1]!;
  const px = side * side;
  const schedule = makeSchedule(dit.schedule);
  const lora = { r: 8, alpha: 16, targets: ['qkv', 'fc1', 'fc2'] };

  const rows: { source: string; target: string; largeBase?: number; largeTuned?: number; with: { target: number; source: number; change: number }; without: { target: number; source: number; change: number }; ftS: number; editWithS: number; editWithoutS: number; finalLoss: number }[] = [];
  for (const [sourceName, targetName] of PAIRS.slice(0, nImages)) {
    const source = dit.id2label.indexOf(sourceName);
    const target = dit.id2label.indexOf(targetName);
    // The first t10k image of the source class that the classifier itself gets right.
    const index = Array.from(labels.data.keys()).find((i) => labels.data[i] === source && classify(classifier, [images.data.subarray(i * px, (i + 1) * px)])[0] === source)!;
    const original = Uint8Array.from(images.data.subarray(index * px, (index + 1) * px));
    const x0 = tf.tensor4d(Float32Array.from(original, (v) => v / 127.5 - 1), [1, side, side, 1]);

    const started = performance.now();
    let finalLoss = 0;
    const tuner = fineTuneSingleImage(dit, x0, source, { method: 'lora', methodOptions: lora, steps: ftSteps, batchSize: ftBatch, lr: ftLr, seed: 0, classDropout: 0, scales: DEFAULT_CROP_SCALES, trainSize }, (_, loss) => (finalLoss = loss));
    const ftS = (performance.now() - started) / 1000;
    const tuned = tunedModel(dit.params, dit.config, tuner);
    const fineTuned = { eps: ditClassEpsilon({ params: tuned.params, config: dit.config }, tuned.hooks), classes: [source] };

    const edit = (withFt: boolean) => {
      const out: Uint8Array[] = [];
      const begun = performance.now();
      for (let seed = 0; seed < nSeeds; seed++) {
        const options: EditOptions = { schedule, targetClasses: [target], nullClass: dit.config.numClasses, scale, beta: withFt ? beta : 0, window: { from, to }, t0, steps, seed, ...(withFt && { fineTuned }) };
        const x = editImages(ditClassEpsilon(dit), x0, options);
        out.push(toPixels(x)[0]!);
        x.dispose();
      }
      const wall = (performance.now() - begun) / 1000 / nSeeds;
      const predicted = classify(classifier, out);
      return {
        scores: {
          target: predicted.filter((p) => p === target).length / nSeeds,
          source: predicted.filter((p) => p === source).length / nSeeds,
          change: mean(out.map((o) => meanAbsChange(o, original))),
        },
        wall,
      };
    };
    const withFt = edit(true);
    const withoutFt = edit(false);
    // Samples of the source class on twice the patch grid, judged at the classifier's size.
    const largeShare = (params: typeof dit.params, hooks?: typeof tuned.hooks) => {
      const model = ditAtSize({ ...dit, params }, 2 * side);
      const pixels = generate(model, { classes: Array<number>(large).fill(source), steps, seed: 0, cfg: scale, sampler: 'ddim', eta: 0, hooks });
      model.dispose();
      return classify(classifier, pixels.map((p) => halve(p, side))).filter((p) => p === source).length / large;
    };
    const largeScores = large > 0 ? { largeBase: largeShare(dit.params), largeTuned: largeShare(tuned.params, tuned.hooks) } : {};
    rows.push({ source: sourceName, target: targetName, ...largeScores, with: withFt.scores, without: withoutFt.scores, ftS, editWithS: withFt.wall, editWithoutS: withoutFt.wall, finalLoss });
    if (!values.json) {
      process.stderr.write(
        `  ${sourceName} → ${targetName} (t10k #${index}): fine-tune ${ftS.toFixed(1)} s (last loss ${finalLoss.toFixed(4)}); ` +
          `target agreement with ε_ft ${withFt.scores.target.toFixed(2)}, without ${withoutFt.scores.target.toFixed(2)}\n`,
      );
    }
    disposeTuner(tuner);
    x0.dispose();
  }

  const summary = {
    backend: backend.name,
    images: nImages,
    seeds_per_image: nSeeds,
    ft: { method: 'lora r8 α16 qkv,fc1,fc2', steps: ftSteps, batch: ftBatch, lr: ftLr, scales: DEFAULT_CROP_SCALES, train_size: trainSize ?? side },
    edit: { t0, beta, window: [from, to], steps, scale },
    target_agreement_with_ft: mean(rows.map((r) => r.with.target)),
    target_agreement_without_ft: mean(rows.map((r) => r.without.target)),
    source_kept_with_ft: mean(rows.map((r) => r.with.source)),
    source_kept_without_ft: mean(rows.map((r) => r.without.source)),
    pixel_change_with_ft: mean(rows.map((r) => r.with.change)),
    pixel_change_without_ft: mean(rows.map((r) => r.without.change)),
    ...(large > 0 && { large_samples: large, large_source_share_base: mean(rows.map((r) => r.largeBase!)), large_source_share_tuned: mean(rows.map((r) => r.largeTuned!)) }),
    ft_s_median: quantile(rows.map((r) => r.ftS), 0.5),
    edit_s_median_with_ft: quantile(rows.map((r) => r.editWithS), 0.5),
    edit_s_median_without_ft: quantile(rows.map((r) => r.editWithoutS), 0.5),
    load: loadLine(),
    rows,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    const f = (x: number) => x.toFixed(2);
    process.stdout.write(
      [
        `SINE on ${dit.name}: LoRA on one t10k image (${ftSteps} steps of ${ftBatch} crops, lr ${ftLr}, trained at ${trainSize ?? side} px), edits t0 ${t0}, ${steps} DDIM steps, s ${scale}, β ${beta} in [${from}, ${to}], ${nSeeds} seeds, ${backend.name}`,
        `pair                       target (ε_ft / none)   source kept (ε_ft / none)   |Δpixel| (ε_ft / none)`,
        ...rows.map((r) => `${`${r.source} → ${r.target}`.padEnd(26)} ${f(r.with.target)} / ${f(r.without.target)}            ${f(r.with.source)} / ${f(r.without.source)}                 ${r.with.change.toFixed(1)} / ${r.without.change.toFixed(1)}`),
        `mean                       ${f(summary.target_agreement_with_ft)} / ${f(summary.target_agreement_without_ft)}            ${f(summary.source_kept_with_ft)} / ${f(summary.source_kept_without_ft)}                 ${summary.pixel_change_with_ft.toFixed(1)} / ${summary.pixel_change_without_ft.toFixed(1)}`,
        ...(large > 0 ? [`${2 * side}×${2 * side} samples of the source class (${large} per image, averaged to ${side}×${side}) called the source: base ${summary.large_source_share_base!.toFixed(2)}, single-image LoRA ${summary.large_source_share_tuned!.toFixed(2)}`] : []),
        `timing    fine-tune median ${summary.ft_s_median.toFixed(1)} s; one edit median ${summary.edit_s_median_with_ft.toFixed(2)} s with ε_ft, ${summary.edit_s_median_without_ft.toFixed(2)} s without (${summary.load})`,
      ].join('\n') + '\n',
    );
  }
  tf.dispose(Object.values(dit.params));
  disposeModel(classifier);
}

void main();
