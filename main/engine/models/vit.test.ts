// Forward hooks of vit.ts on a tiny random model (PyTorch parity lives in io/checkpoint.test.ts).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { randomVitParams, TINY_VIT } from '../methods/tiny-vit';
import { Rng } from '../train/rng';
import { selectPosEmbed, vitForward, vitForwardFrom, vitPooled, vitTokensAt, type VitConfig, type VitHooks, type VitParams } from './vit';

const B = 2;
let params: Record<string, tf.Tensor>;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  params = randomVitParams(TINY_VIT, Rng.fromSeed(11));
  x = tf.tensor4d(Rng.fromSeed(12).fill(B * 8 * 8 * 3, (r) => r.normal()), [B, 8, 8, 3]);
});
afterAll(() => tf.dispose([...Object.values(params), x]));

const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));

describe('vit hooks', () => {
  it('identity hooks leave the logits bit-identical and see every layer', async () => {
    const seen: string[] = [];
    const outputs: number[][] = [];
    const [plain, hooked] = tf.tidy(() => [
      vitForward(params, TINY_VIT, x),
      vitForward(params, TINY_VIT, x, {
        linear: (name, _x, y) => (seen.push(name), y),
        norm: (name, y) => (seen.push(name), y),
        tokens: (_i, t) => t,
        blockOutput: (_i, t) => void outputs.push(t.shape),
        encoded: (t) => t,
      }),
    ]);
    await same(plain!, hooked!);
    expect(seen).toEqual([
      'patch_embed',
      ...[0, 1].flatMap((i) => [`blocks.${i}.norm1`, `blocks.${i}.attn.qkv`, `blocks.${i}.attn.proj`, `blocks.${i}.norm2`, `blocks.${i}.mlp.fc1`, `blocks.${i}.mlp.fc2`]),
      'norm',
    ]);
    expect(outputs).toEqual([
      [B, 5, 8],
      [B, 5, 8],
    ]);
    tf.dispose([plain!, hooked!]);
  });

  it('prompt tokens after CLS: attention uses the new count, mean pooling skips them', async () => {
    const config: VitConfig = { ...TINY_VIT, pooling: 'mean', finalNorm: 'none' };
    const prompts = tf.tensor2d(Rng.fromSeed(13).fill(3 * 8, (r) => r.normal()), [3, 8]);
    let encoded: tf.Tensor3D | undefined;
    const [pooled, expected, unprompted] = tf.tidy(() => {
      const insert = (t: tf.Tensor3D): tf.Tensor3D => {
        const [b, n, d] = t.shape;
        const p = tf.broadcastTo(tf.reshape(prompts, [1, 3, d]), [b, 3, d]);
        return tf.concat([tf.slice(t, [0, 0, 0], [b, 1, d]), p, tf.slice(t, [0, 1, 0], [b, n - 1, d])], 1) as tf.Tensor3D;
      };
      const out = vitPooled(params, config, x, {
        tokens: (i, t) => (i === 0 ? insert(t) : t),
        encoded: (t) => (encoded = tf.keep(t)),
      });
      return [out, tf.mean(tf.slice(encoded!, [0, 4, 0], [B, 4, 8]), 1), vitPooled(params, config, x)];
    });
    expect(encoded!.shape).toEqual([B, 1 + 3 + 4, 8]);
    await same(pooled!, expected!);
    // The prompts take part in attention, so the patch tokens differ from a prompt-free pass.
    expect(Math.max(...(await tf.sub(pooled!, unprompted!).abs().data()))).toBeGreaterThan(1e-4);
    tf.dispose([pooled!, expected!, unprompted!, encoded!, prompts]);
  });

  it('a crop runs with its rows of the position table', async () => {
    const pos = params.pos_embed as tf.Tensor2D;
    const crop = selectPosEmbed(pos, TINY_VIT, { top: 1, left: 0, gh: 1, gw: 2 });
    expect(Array.from(await crop.data())).toEqual(Array.from(await tf.gather(pos, [0, 3, 4]).data()));
    const whole = selectPosEmbed(pos, TINY_VIT, { top: 0, left: 0, gh: 2, gw: 2 });
    await same(whole, pos);
    const strip = tf.slice(x, [0, 4, 0, 0], [B, 4, 8, 3]); // the bottom row of patches
    const p: VitParams = params;
    expect(() => tf.tidy(() => vitForward(p, TINY_VIT, strip))).toThrow(/withImageSize/);
    const logits = tf.tidy(() => vitForward(p, TINY_VIT, strip, { posEmbed: (table, grid) => selectPosEmbed(table, TINY_VIT, { top: 1, left: 0, ...grid }) }));
    expect(logits.shape).toEqual([B, TINY_VIT.numLabels]);
    expect(() => selectPosEmbed(pos, TINY_VIT, { top: 1, left: 1, gh: 2, gw: 1 })).toThrow(/outside/);
    tf.dispose([crop, whole, strip, logits]);
  });

  it('the frozen prefix (vitTokensAt) and the rest (vitForwardFrom) compose to vitForward at every split', async () => {
    const config: VitConfig = { ...TINY_VIT, pooling: 'mean', finalNorm: 'tokens' };
    const late: VitHooks = { linear: (name, _x, y) => (name.startsWith('blocks.1.') ? tf.mul(y, 1.5) : y) };
    for (let block = 0; block <= config.depth; block++) {
      const [whole, split, entering] = tf.tidy(() => {
        const tokens = vitTokensAt(params, config, x, block);
        return [vitForward(params, config, x, late), vitForwardFrom(params, config, tokens, block, late), tokens];
      });
      expect(entering!.shape).toEqual([B, 5, 8]);
      // Block 2 would run the hooked block 1 inside the prefix, where hooks never apply.
      if (block < 2) await same(whole!, split!);
      else expect(Math.max(...(await tf.sub(whole!, split!).abs().data()))).toBeGreaterThan(1e-4);
      tf.dispose([whole!, split!, entering!]);
    }
    expect(() => vitTokensAt(params, config, x, 3)).toThrow(/outside 0…2/);
  });
});
