import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../preload/api';
import { writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';
import { maxSoftmax } from './evaluation';
import { importModel } from './models';

// A tiny greyscale ViT (8×8 input) from the parity fixtures: digits are resized to it.
const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');

describe('evaluation service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => {
    await current?.studio.close();
    current = undefined;
  });

  it('scores a trained run on its validation images and the test split, with images behind every prediction', async () => {
    current = tempStudio();
    const { studio, dispatch } = current;
    const folder = mkdtempSync(join(tmpdir(), 'studio-eval-data-'));
    await writeDigitFolder(folder, { '0': 12, '1': 12 });
    const datasetId = studio.datasets.create('zeros and ones').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    studio.labeling.makeSplits({ datasetId, train: 0.75, val: 0, test: 0.25, seed: 1, reassign: true });
    const model = await importModel(studio.store, TINY_MODEL);
    const run = await studio.runs.create({
      datasetId, modelId: model.id, method: 'lora', steps: 6, methodOptions: {},
      batchSize: 4, lr: 1e-2, seed: 3, valFraction: 0.25, evalEvery: 3, checkpointEvery: 3,
    });
    await studio.runs.idle();
    expect(studio.runs.get(run.id).status).toBe('done');

    const hashes = new Map(studio.store.images.page(datasetId, {}, 0, 1000).items.map((i) => [i.hash, i]));
    const testCount = studio.store.images.page(datasetId, { split: 'test' }, 0, 1000).total;
    const valSize = studio.runs.get(run.id).info.valSize as number;
    for (const split of ['val', 'test', 'all'] as const) {
      const result = await studio.evaluation.evaluate(run.id, split);
      const total = result.confusion.flat().reduce((a, b) => a + b, 0);
      expect(total).toBe(result.n);
      const trace = result.confusion.reduce((a, row, i) => a + row[i]!, 0);
      expect(result.accuracy).toBeCloseTo(trace / result.n, 10);
      expect(result.classes).toEqual(['0', '1']);
      expect(result.predictions).toHaveLength(result.n);
      for (const p of result.predictions) {
        const image = hashes.get(p.imageHash);
        expect(image).toBeDefined();
        expect(p.fileName).toBe(image!.fileName);
        expect(p.imageId).toBe(image!.id);
        expect(result.classes[p.label]).toBe(image!.classId === null ? undefined : studio.datasets.get(datasetId).classes.find((c) => c.id === image!.classId)!.name);
        expect(p.confidence).toBeGreaterThanOrEqual(0.5);
        expect(p.confidence).toBeLessThanOrEqual(1);
        expect(image!.split === 'test').toBe(split === 'test' ? true : split === 'val' ? false : image!.split === 'test');
      }
      expect(result.n).toBe(split === 'val' ? valSize : split === 'test' ? testCount : valSize + testCount);
      expect(result.perClass.map((c) => c.support)).toEqual(result.confusion.map((row) => row.reduce((a, b) => a + b, 0)));
    }
    // Every scored image's prediction is stored with the run: labeling filters by them.
    const all = await studio.evaluation.evaluate(run.id, 'all');
    const classIdOf = new Map(studio.datasets.get(datasetId).classes.map((c) => [c.name, c.id]));
    const filtered = (prediction: { runId: number; classId?: number; disagrees?: true }) => studio.datasets.imageIds(datasetId, { prediction }).sort((a, b) => a - b);
    const idsWhere = (keep: (p: (typeof all.predictions)[number]) => boolean) => all.predictions.filter(keep).map((p) => p.imageId!).sort((a, b) => a - b);
    expect(filtered({ runId: run.id })).toEqual(idsWhere(() => true));
    expect(filtered({ runId: run.id, classId: classIdOf.get('1')! })).toEqual(idsWhere((p) => all.classes[p.pred] === '1'));
    expect(filtered({ runId: run.id, disagrees: true })).toEqual(idsWhere((p) => p.pred !== p.label));
    expect(studio.datasets.predictionRuns(datasetId)).toEqual([{ runId: run.id, name: run.name, count: all.n }]);
    // Cached: the same object comes back.
    expect(await studio.evaluation.evaluate(run.id, 'val')).toBe(await studio.evaluation.evaluate(run.id, 'val'));
    // Through the contract too.
    const envelope = await dispatch('runs.evaluate', { id: run.id, split: 'test' });
    expect(envelope).toMatchObject({ ok: true, value: { runId: run.id, split: 'test', n: testCount } });
    expect(await dispatch('runs.evaluate', { id: run.id, split: 'train' })).toMatchObject({ ok: false, error: { code: 'validation' } });
  });

  it('a run stopped part-way is scored from its latest checkpoint merged into the base', async () => {
    current = tempStudio();
    const { studio } = current;
    const folder = mkdtempSync(join(tmpdir(), 'studio-eval-data-'));
    await writeDigitFolder(folder, { '0': 10, '1': 10 });
    const datasetId = studio.datasets.create('zeros and ones').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const model = await importModel(studio.store, TINY_MODEL);
    const run = await studio.runs.create({
      datasetId, modelId: model.id, method: 'lora', steps: 400, methodOptions: {},
      batchSize: 4, lr: 1e-2, seed: 3, valFraction: 0.2, evalEvery: 1, checkpointEvery: 50,
    });
    await new Promise<void>((resolve) => {
      const stop = studio.events.subscribe((event, payload) => {
        if (event === 'run.progress' && (payload as RunSummary).id === run.id && (payload as RunSummary).step >= 3) {
          stop();
          resolve();
        }
      });
    });
    studio.runs.stop(run.id);
    await studio.runs.idle();
    const stopped = studio.runs.get(run.id);
    expect(stopped.status).toBe('stopped');
    const result = await studio.evaluation.evaluate(run.id, 'val');
    expect(result.n).toBe(stopped.info.valSize);
    expect(result.confusion.flat().reduce((a, b) => a + b, 0)).toBe(result.n);
    // The worker scored every step: its last validation accuracy came from the same images and weights.
    const lastEval = studio.runs.metrics(run.id, 'val_accuracy', -1).at(-1)!;
    expect(lastEval.step).toBe(stopped.step);
    expect(result.accuracy).toBeCloseTo(lastEval.value!, 6);
  });

  it('a run without a model is a typed conflict', async () => {
    current = tempStudio();
    const { studio, dispatch } = current;
    const id = studio.store.runs.create('never trained', null, null, 'lora', {});
    studio.store.runs.setStatus(id, 'failed', 'boom');
    await expect(studio.evaluation.evaluate(id, 'val')).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/no evaluable model yet/) });
    expect(await dispatch('runs.evaluate', { id, split: 'val' })).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await dispatch('runs.evaluate', { id: 999, split: 'val' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('confidence is the softmax maximum', () => {
    expect(maxSoftmax([0, 0])).toBeCloseTo(0.5);
    expect(maxSoftmax([2, 0, -1])).toBeCloseTo(Math.exp(2) / (Math.exp(2) + 1 + Math.exp(-1)));
  });
});
