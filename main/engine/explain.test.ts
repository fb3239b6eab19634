import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { attentionRollout, clsPatchSaliency, vitExplain } from './explain';
import { randomVitParams, TINY_VIT } from './methods/tiny-vit';
import { vitForward } from './models/vit';
import { Rng } from './train/rng';

let params: Record<string, tf.Tensor>;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  params = randomVitParams(TINY_VIT, Rng.fromSeed(21));
  x = tf.tensor4d(Rng.fromSeed(22).fill(2 * 8 * 8 * 3, (r) => r.normal()), [2, 8, 8, 3]);
});
afterAll(() => tf.dispose([...Object.values(params), x]));

describe('attention rollout', () => {
  it('matches a small case worked by hand', async () => {
    // Three tokens (CLS + a 1×2 patch grid), two heads, two layers.
    // Layer 1: mean of heads [[.5,.5,0],…] and [[.5,0,.5],…] is [[.5,.25,.25],[0,1,0],[0,0,1]];
    //   + I and row-normalised (every row sums to 2): Â1 = [[.75,.125,.125],[0,1,0],[0,0,1]].
    // Layer 2: both heads [[0,1,0],[0,1,0],[0,0,1]]; + I, /2: Â2 = [[.5,.5,0],[0,1,0],[0,0,1]].
    // R = Â2·Â1, CLS row = .5·[.75,.125,.125] + .5·[0,1,0] = [.375, .5625, .0625].
    const layer1 = [
      [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]],
      [[0.5, 0, 0.5], [0, 1, 0], [0, 0, 1]],
    ];
    const head2 = [[0, 1, 0], [0, 1, 0], [0, 0, 1]];
    const before = tf.memory().numTensors;
    const [rollout, saliency] = tf.tidy(() => {
      const r = attentionRollout([tf.tensor4d([layer1]), tf.tensor4d([[head2, head2]])]);
      return [r, clsPatchSaliency(r, { gh: 1, gw: 2 })];
    });
    const rows = (await rollout!.array()) as number[][][];
    expect(rows[0]![0]).toEqual([0.375, 0.5625, 0.0625]);
    expect(rows[0]![1]).toEqual([0, 1, 0]);
    expect(rows[0]![2]).toEqual([0, 0, 1]);
    expect(saliency!.shape).toEqual([1, 1, 2]);
    expect(await saliency!.array()).toEqual([[[0.5625, 0.0625]]]);
    tf.dispose([rollout!, saliency!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves the forward output bit-identical and gives one saliency grid per image', async () => {
    const before = tf.memory().numTensors;
    const [plain, logits, saliency, rowSums] = tf.tidy(() => {
      const explained = vitExplain(params, TINY_VIT, x);
      const attentions: tf.Tensor4D[] = [];
      vitForward(params, TINY_VIT, x, { attentionWeights: (_n, w) => void attentions.push(w) });
      return [vitForward(params, TINY_VIT, x), explained.logits, explained.saliency, tf.sum(attentionRollout(attentions), -1)];
    });
    expect(Array.from(await logits!.data())).toEqual(Array.from(await plain!.data()));
    expect(saliency!.shape).toEqual([2, 2, 2]);
    for (const v of await saliency!.data()) expect(v).toBeGreaterThan(0);
    for (const v of await rowSums!.data()) expect(v).toBeCloseTo(1, 5);
    tf.dispose([plain!, logits!, saliency!, rowSums!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sees every block, in order, as [B, heads, N, N]', () => {
    const seen: string[] = [];
    tf.tidy(() => {
      vitForward(params, TINY_VIT, x, { attentionWeights: (name, w) => void seen.push(`${name} ${w.shape.join('×')}`) });
    });
    expect(seen).toEqual(['blocks.0.attn 2×2×5×5', 'blocks.1.attn 2×2×5×5']);
  });
});
