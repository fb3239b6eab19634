// Drives the real worker entry through child_process.fork, as the main process does.
import * as tf from '@tensorflow/tfjs';
import { fork } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend';
import { randomVitParams, TINY_VIT } from '../engine/methods/tiny-vit';
import { writeModelFolder } from '../engine/train/export';
import { Rng } from '../engine/train/rng';
import { learningRate } from '../engine/train/schedule';
import { extendedSpec } from '../engine/train/trainer';
import { trainSpecSchema } from '../engine/train/spec';
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
function runWorker(run: RunSpec | WorkerRequest, onMessage?: (m: WorkerMessage, send: (r: WorkerRequest) => void) => void) {
  return new Promise<{ code: number | null; messages: WorkerMessage[]; stderr: string }>((resolve, reject) => {
    const child = fork(WORKER, [], { execArgv: ['--require', 'tsx/cjs'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const messages: WorkerMessage[] = [];
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const send = (r: WorkerRequest) => child.send(r);
    child.on('message', (m: WorkerMessage) => {
      messages.push(m);
      if (m.type === 'ready') send('type' in run ? run : { type: 'start', run });
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

  it('checkpoint now: saves one at the next step boundary and the run goes on to the end', async () => {
    let asked = 0;
    const { code, messages } = await runWorker(
      { modelDir, dataDir, outDir: path.join(tmp, 'run-now'), spec: { method: 'lora', steps: 12, batchSize: 4, evalEvery: 100, checkpointEvery: 100, valFraction: 0 } },
      (m, send) => {
        if (m.type === 'step' && m.step === 3) {
          asked = m.step;
          send({ type: 'checkpoint' });
        }
      },
    );
    expect(code).toBe(0);
    const checkpoints = messages.filter((m) => m.type === 'checkpoint').map((m) => m.step);
    // The one asked for (at the boundary after the step that was running when the command landed) and the final one.
    expect(checkpoints).toHaveLength(2);
    expect(checkpoints[0]).toBeGreaterThanOrEqual(asked);
    expect(checkpoints[0]).toBeLessThan(12);
    expect(checkpoints[1]).toBe(12);
    expect((messages.at(-1) as Extract<WorkerMessage, { type: 'done' }>).summary).toMatchObject({ steps: 12, stopped: false });
  });

  it('extend: raises the budget mid-run at a step boundary and the cosine is recomputed over the new total from there (warmup kept)', async () => {
    const spec = trainSpecSchema.parse({ method: 'lora', steps: 10, batchSize: 4, evalEvery: 100, checkpointEvery: 100, valFraction: 0, lr: 0.01, methodOptions: { r: 2 } });
    const extendAt = (onExtended?: (send: (r: WorkerRequest) => void) => void) => (m: WorkerMessage, send: (r: WorkerRequest) => void) => {
      if (m.type === 'step' && m.step === 4) send({ type: 'extend', steps: 16 });
      if (m.type === 'extended') onExtended?.(send);
    };
    const whole = await runWorker({ modelDir, dataDir, outDir: path.join(tmp, 'run-ext-a'), spec }, extendAt());
    expect(whole.code).toBe(0);
    const extended = whole.messages.find((m) => m.type === 'extended') as Extract<WorkerMessage, { type: 'extended' }>;
    expect(extended.steps).toBe(16);
    expect(extended.step).toBeGreaterThanOrEqual(4);
    const steps = whole.messages.filter((m) => m.type === 'step');
    expect(steps.map((m) => m.step)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    // Before the extension, the 10-step schedule; from it on, the 16-step one with warmup kept (1 step).
    for (const m of steps) {
      const total = m.step <= extended.step ? 10 : 16;
      expect(m.lr).toBeCloseTo(learningRate(m.step - 1, { lr: 0.01, minLr: spec.minLr, warmupSteps: 1, totalSteps: total }), 10);
    }

  });

  it('extend a stopped run: resumed with the raised budget, then stopped and resumed again, it replays an uninterrupted resume exactly', async () => {
    const spec = trainSpecSchema.parse({ method: 'lora', steps: 10, batchSize: 4, evalEvery: 100, checkpointEvery: 100, valFraction: 0, lr: 0.01, methodOptions: { r: 2 } });
    const longer = extendedSpec(spec, 16);
    const stopAt = (step: number) => (m: WorkerMessage, send: (r: WorkerRequest) => void) => m.type === 'step' && m.step === step && send({ type: 'stop' });
    const lossOf = (ms: WorkerMessage[]) => new Map(ms.flatMap((m) => (m.type === 'step' ? [[m.step, m.loss] as const] : [])));
    const outDir = path.join(tmp, 'run-ext-b');
    const reference = path.join(tmp, 'run-ext-c');
    await runWorker({ modelDir, dataDir, outDir, spec }, stopAt(2));
    cpSync(outDir, reference, { recursive: true });
    const uninterrupted = lossOf((await runWorker({ modelDir, dataDir, outDir: reference, resume: reference, spec: longer })).messages);
    expect([...uninterrupted.keys()].at(-1)).toBe(16);
    const second = await runWorker({ modelDir, dataDir, outDir, resume: outDir, spec: longer }, stopAt(6));
    const stoppedAt = (second.messages.at(-1) as Extract<WorkerMessage, { type: 'done' }>).summary.steps;
    expect(stoppedAt).toBeLessThan(16);
    const third = await runWorker({ modelDir, dataDir, outDir, resume: outDir, spec: longer });
    expect(third.code).toBe(0);
    const replayed = [...lossOf(third.messages)];
    expect(replayed.map(([step]) => step)).toEqual(Array.from({ length: 16 - stoppedAt }, (_, i) => stoppedAt + i + 1));
    for (const [step, loss] of replayed) expect(loss).toBe(uninterrupted.get(step));
  });

  it('estimate: a dry run of a few steps reports parameters, step time and peak memory, then exits 0', async () => {
    const outDir = path.join(tmp, 'run-dry');
    const run = { modelDir, dataDir, outDir, spec: { method: 'lora', steps: 1000, batchSize: 4, valFraction: 0.25, methodOptions: { r: 2 } } };
    const { code, messages } = await runWorker({ type: 'estimate', run, steps: 3 });
    expect(code).toBe(0);
    const result = messages.find((m) => m.type === 'estimate') as Extract<WorkerMessage, { type: 'estimate' }>;
    expect(result).toMatchObject({ trainSize: 28, valSize: 12, stepsMeasured: 2 });
    expect(result.trainableParams).toBeGreaterThan(0);
    expect(result.trainableParams).toBeLessThan(result.totalParams);
    expect(result.msPerStep).toBeGreaterThan(0);
    expect(result.peakBytes).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('fails with one line and exit code 1', async () => {
    const { code, messages, stderr } = await runWorker({ modelDir, dataDir, outDir: path.join(tmp, 'run-c'), spec: { method: 'nope' } });
    expect(code).toBe(1);
    expect(stderr).toBe('peft-studio worker: unknown method "nope" (methods: linear-probe, full, lora' + stderr.slice(stderr.indexOf('lora') + 4));
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(messages.at(-1)).toMatchObject({ type: 'error', message: expect.stringMatching(/^unknown method "nope"/) });
  });
});
