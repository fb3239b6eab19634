// Drives the real worker entry through child_process.fork, as the main process does.
import * as tf from '@tensorflow/tfjs';
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend';
import { randomVitParams, TINY_VIT } from '../engine/methods/tiny-vit';
import { writeModelFolder } from '../engine/train/export';
import { Rng } from '../engine/train/rng';
import { writeSyntheticIdx } from '../engine/train/synthetic';
import type { RunSpec, WorkerMessage, WorkerRequest } from './protocol';

const WORKER = path.resolve(__dirname, 'index.ts');
const tmp = mkdtempSync(path.join(tmpdir(), 'peft-worker-'));
const modelDir = path.join(tmp, 'model');
const dataDir = path.join(tmp, 'data');

beforeAll(async () => {
  await initBackend();
  const config = { ...TINY_VIT, numChannels: 1 };
  const params = randomVitParams(config, Rng.fromSeed(1));
  await writeModelFolder(modelDir, params, config, {
    name: 'tiny-grey',
    preprocess: { resize: null, rescale: 1 / 255, normalize: { mean: [0.5], std: [0.5] } },
    id2label: ['a', 'b', 'c', 'd', 'e'],
  });
  tf.dispose(Object.values(params));
  await writeSyntheticIdx(dataDir, 40, 4, 8, 2);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Forks the worker, sends `start`, lets `onMessage` react, resolves when it exits. */
function runWorker(run: RunSpec, onMessage?: (m: WorkerMessage, send: (r: WorkerRequest) => void) => void) {
  return new Promise<{ code: number | null; messages: WorkerMessage[]; stderr: string }>((resolve, reject) => {
    const child = fork(WORKER, [], { execArgv: ['--require', 'tsx/cjs'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const messages: WorkerMessage[] = [];
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const send = (r: WorkerRequest) => child.send(r);
    child.on('message', (m: WorkerMessage) => {
      messages.push(m);
      if (m.type === 'ready') send({ type: 'start', run });
      onMessage?.(m, send);
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, messages, stderr }));
  });
}

describe('training worker', () => {
  it('runs a LoRA job and posts every event, then exits 0', async () => {
    const outDir = path.join(tmp, 'run-a');
    const { code, messages, stderr } = await runWorker({
      modelDir,
      dataDir,
      outDir,
      spec: { method: 'lora', steps: 4, batchSize: 8, evalEvery: 2, checkpointEvery: 2, valFraction: 0.25, methodOptions: { r: 2 } },
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const types = messages.map((m) => m.type);
    expect(types).toEqual(['ready', 'backend', 'start', 'step', 'step', 'eval', 'checkpoint', 'step', 'step', 'eval', 'checkpoint', 'done']);
    const done = messages.at(-1) as Extract<WorkerMessage, { type: 'done' }>;
    expect(done.summary).toMatchObject({ method: 'lora', steps: 4, stopped: false, trainSize: 28, valSize: 12 });
    expect(existsSync(path.join(done.summary.modelDir!, 'model.safetensors'))).toBe(true);
    expect(existsSync(path.join(done.summary.adapterDir!, 'adapter_config.json'))).toBe(true);
  });

  it('on stop, checkpoints and exits 0', async () => {
    const outDir = path.join(tmp, 'run-b');
    let asked = false;
    const { code, messages } = await runWorker(
      { modelDir, dataDir, outDir, spec: { method: 'full', steps: 500, batchSize: 4, checkpointEvery: 1000, valFraction: 0 } },
      (m, send) => {
        if (m.type === 'step' && !asked) {
          asked = true;
          send({ type: 'stop' });
        }
      },
    );
    expect(code).toBe(0);
    const checkpoint = messages.find((m) => m.type === 'checkpoint') as Extract<WorkerMessage, { type: 'checkpoint' }>;
    const done = messages.at(-1) as Extract<WorkerMessage, { type: 'done' }>;
    expect(done.summary.stopped).toBe(true);
    expect(done.summary.steps).toBeLessThan(500);
    expect(checkpoint.step).toBe(done.summary.steps);
    expect(checkpoint.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(path.join(checkpoint.path, 'manifest.json'))).toBe(true);
  });

  it('when the parent disconnects, checkpoints and exits', async () => {
    const outDir = path.join(tmp, 'run-d');
    let gone = false;
    const { code } = await new Promise<{ code: number | null }>((resolve, reject) => {
      const child = fork(WORKER, [], { execArgv: ['--require', 'tsx/cjs'], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') child.send({ type: 'start', run: { modelDir, dataDir, outDir, spec: { method: 'lora', steps: 500, batchSize: 4, checkpointEvery: 1000 } } });
        if (m.type === 'step' && !gone) {
          gone = true;
          child.disconnect();
        }
      });
      child.on('error', reject);
      child.on('exit', (c) => resolve({ code: c }));
    });
    expect(gone).toBe(true);
    // The run can be resumed: its checkpoint exists although no one heard about it.
    const checkpoints = readdirSync(path.join(outDir, 'checkpoints')).filter((n) => n.startsWith('step-'));
    expect(checkpoints).toHaveLength(1);
    expect(code).toBe(0);
  });

  it('fails with one line and exit code 1', async () => {
    const { code, messages, stderr } = await runWorker({ modelDir, dataDir, outDir: path.join(tmp, 'run-c'), spec: { method: 'nope' } });
    expect(code).toBe(1);
    expect(stderr).toBe('peft-studio worker: unknown method "nope" (methods: linear-probe, full, lora' + stderr.slice(stderr.indexOf('lora') + 4));
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(messages.at(-1)).toMatchObject({ type: 'error', message: expect.stringMatching(/^unknown method "nope"/) });
  });
});
