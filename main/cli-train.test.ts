// `peft-studio train` end to end on a tiny greyscale model and synthetic IDX data.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli';
import { initBackend } from './engine/backend';
import { randomVitParams, TINY_VIT } from './engine/methods/tiny-vit';
import { writeModelFolder } from './engine/train/export';
import { Rng } from './engine/train/rng';
import { writeSyntheticIdx } from './engine/train/synthetic';

const tmp = mkdtempSync(path.join(tmpdir(), 'cli-train-'));
const model = path.join(tmp, 'model');
const data = path.join(tmp, 'data');

beforeAll(async () => {
  await initBackend();
  const config = { ...TINY_VIT, numChannels: 1 };
  const params = randomVitParams(config, Rng.fromSeed(1));
  await writeModelFolder(model, params, config, {
    name: 'tiny-grey',
    preprocess: { resize: null, rescale: 1 / 255, normalize: { mean: [0.5], std: [0.5] } },
    id2label: ['a', 'b', 'c', 'd', 'e'],
  });
  tf.dispose(Object.values(params));
  await writeSyntheticIdx(data, 40, 4, 8, 2);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const lines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('peft-studio train', () => {
  const base = ['train', '--model', model, '--data', data, '--batch', '8', '--seed', '4'];

  it('--json: one line per event, a summary line, and a merged model that eval loads', async () => {
    const out = path.join(tmp, 'run-lora');
    const r = await cli(...base, '--method', 'lora', '--method-opt', 'r=2', '--method-opt', 'targets=qkv,fc2', '--steps', '4', '--eval-every', '2', '--checkpoint-every', '2', '--out', out, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const events = lines(r.out);
    expect(events.map((e) => e.type)).toEqual(['start', 'step', 'step', 'eval', 'checkpoint', 'step', 'step', 'eval', 'checkpoint', 'done', 'summary']);
    const summary = events.at(-1)!;
    // Head 8·4 + 4 + pooled norm 16; LoRA r=2 on qkv (8 + 24) and fc2 (16 + 8) in 2 blocks.
    expect(summary).toMatchObject({ method: 'lora', trainable_params: 52 + 2 * 2 * (32 + 24), steps: 4, stopped: false, train_size: 36, val_size: 4 });
    expect(summary.total_params).toBeGreaterThan(summary.trainable_params as number);
    expect(typeof summary.val_accuracy).toBe('number');
    expect(summary.wall_s).toBeGreaterThan(0);

    const ev = await cli('eval', '--model', summary.model_dir as string, '--data', data, '--json');
    expect(ev.code).toBe(0);
    expect(JSON.parse(ev.out)).toMatchObject({ n: 40, classes: ['0', '1', '2', '3'] });

    // Continuing from the step-2 checkpoint in a new run folder reproduces steps 3 and 4.
    const resumed = await cli(...base, '--resume', path.join(out, 'checkpoints', 'step-00000002'), '--out', path.join(tmp, 'run-resumed'), '--json');
    expect(resumed.code).toBe(0);
    const again = lines(resumed.out).filter((e) => e.type === 'step');
    expect(again.map((e) => [e.step, e.loss])).toEqual(events.filter((e) => e.type === 'step' && (e.step as number) > 2).map((e) => [e.step, e.loss]));
  });

  it('prints readable progress without --json', async () => {
    const r = await cli(...base, '--method', 'linear-probe', '--steps', '3', '--val-fraction', '0', '--out', path.join(tmp, 'run-probe'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^method {4}linear-probe: 52 trainable of [\d,]+ params \(features cached\)\n/);
    expect(r.out).toMatch(/step 3\/3 {2}loss \d\.\d{4}/);
    expect(r.out).toMatch(/model {5}.*run-probe\/model/);
  });

  it.each([
    [['--method', 'nope'], 1, /^peft-studio train: unknown method "nope" \(methods: linear-probe, full, lora/],
    [['--method', 'lora', '--method-opt', 'r=0'], 1, /^peft-studio train: method lora: r: /],
    [['--method', 'lora', '--method-opt', 'r'], 2, /--method-opt expects key=value/],
    [['--method', 'lora', '--lr', 'fast'], 2, /--lr must be a number/],
    [['--method', 'lora', '--augment', 'mixup'], 2, /--augment takes none, default or a list of flip,crop,jitter \(not mixup\)/],
    [['--method', 'lora', '--resume', '/nonexistent/run'], 1, /no valid checkpoint/],
  ])('%j fails with one line', async (extra, code, message) => {
    const r = await cli(...base, ...extra);
    expect(r.code).toBe(code);
    expect(r.err.split('\n')[0]).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
