import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { averageParams, checkSoupable, greedySoup, SoupError, type SoupIngredient } from './soup';

beforeAll(async () => {
  await initBackend();
});

const ingredient = (over: Partial<SoupIngredient> = {}): SoupIngredient => ({
  label: 'run 1',
  base: 'vit-mnist',
  method: 'lora',
  trainableShapes: new Map([['head.weight', [4, 2]], ['blocks.0.attn.qkv.lora_A', [4, 8]]]),
  classes: ['cat', 'dog'],
  ...over,
});

describe('model soup', () => {
  it('averages every tensor uniformly, to hand-computed values, without leaking', async () => {
    const before = tf.memory().numTensors;
    const a = { w: tf.tensor2d([[1, 2], [3, 4]]), b: tf.tensor1d([0, 10]) };
    const b = { w: tf.tensor2d([[3, 2], [1, 0]]), b: tf.tensor1d([6, -10]) };
    const c = { w: tf.tensor2d([[2, 2], [2, 2]]), b: tf.tensor1d([3, 3]) };
    const soup = averageParams([a, b, c]);
    expect(Object.keys(soup).sort()).toEqual(['b', 'w']);
    // w: (1+3+2)/3, (2+2+2)/3, (3+1+2)/3, (4+0+2)/3 = 2 everywhere; b: (0+6+3)/3 = 3, (10-10+3)/3 = 1.
    expect(await soup.w!.array()).toEqual([[2, 2], [2, 2]]);
    expect(await soup.b!.array()).toEqual([3, 1]);
    const pair = averageParams([a, b]);
    expect(await pair.w!.array()).toEqual([[2, 2], [2, 2]]);
    expect(await pair.b!.array()).toEqual([3, 0]);
    tf.dispose([...Object.values(a), ...Object.values(b), ...Object.values(c), ...Object.values(soup), ...Object.values(pair)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses weights whose names or shapes differ', () => {
    const before = tf.memory().numTensors;
    const a = { w: tf.zeros([2, 2]) };
    const wide = { w: tf.zeros([2, 3]) };
    const other = { v: tf.zeros([2, 2]) };
    expect(() => averageParams([a, wide])).toThrow(/"w" has shape 2×3 in one model and 2×2 in another/);
    expect(() => averageParams([a, other])).toThrow(SoupError);
    tf.dispose([a.w, wide.w, other.v]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses runs of another base, method, trainable shapes or classes, naming them', () => {
    expect(() => checkSoupable([ingredient(), ingredient({ label: 'run 2' })])).not.toThrow();
    expect(() => checkSoupable([ingredient(), ingredient({ label: 'run 2', method: 'vpt' })])).toThrow(
      'run 2 and run 1 use different methods (vpt, lora): only runs of one method can be averaged',
    );
    expect(() => checkSoupable([ingredient(), ingredient({ label: 'run 2', base: 'vit-b16' })])).toThrow(/different base models/);
    expect(() =>
      checkSoupable([ingredient(), ingredient({ label: 'run 3', trainableShapes: new Map([['head.weight', [4, 2]], ['blocks.0.attn.qkv.lora_A', [4, 2]]]) })]),
    ).toThrow(/run 3 and run 1 train tensors of different shapes/);
    expect(() => checkSoupable([ingredient(), ingredient({ classes: ['dog', 'cat'] })])).toThrow(/different classes/);
  });

  it('greedy: best first, each kept only when the held-out score does not drop', async () => {
    // Scores of candidate soups, keyed by their members.
    const table: Record<string, number> = { 'b+a': 0.8, 'b+a+c': 0.85 };
    const asked: string[] = [];
    const result = await greedySoup(
      [
        { item: 'a', score: 0.7 },
        { item: 'b', score: 0.8 },
        { item: 'c', score: 0.6 },
      ],
      async (members) => {
        asked.push(members.join('+'));
        return table[members.join('+')]!;
      },
    );
    // b is best; b+a ties 0.8 (kept: does not drop); b+a+c rises to 0.85 (kept).
    expect(asked).toEqual(['b+a', 'b+a+c']);
    expect(result.members).toEqual(['b', 'a', 'c']);
    expect(result.score).toBe(0.85);
    const dropped = await greedySoup([{ item: 'b', score: 0.8 }, { item: 'c', score: 0.6 }], async () => 0.75);
    expect(dropped.members).toEqual(['b']);
    expect(dropped.steps.map((s) => s.kept)).toEqual([true, false]);
  });
});
