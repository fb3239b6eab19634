// The diffusion service with the real starter DiT at tiny step counts: samples stored and listed,
// reproducible by seed; edits (t0 = 0 is the input itself; β only with a fine-tuned model); keeping a
// result in a dataset through the import path; what it refuses.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSummary } from '../../preload/api';
import { digitPng } from '../../test/digits';
import { BUILT_IN_MODELS, tempStudio } from '../../test/studio';
import { loadDitFolder } from '../engine/diffusion/dit-folder';
import { disposeTuner, initDiffusionTuner, saveDiffusionAdapter } from '../engine/diffusion/finetune';
import { disposeModel } from '../engine/io/checkpoint';
import { Rng } from '../engine/train/rng';

describe('diffusion service', () => {
  let current: ReturnType<typeof tempStudio>;
  let dit: ModelSummary;
  let vit: ModelSummary;
  beforeAll(async () => {
    current = tempStudio({ builtInModelsDir: BUILT_IN_MODELS });
    const models = await current.studio.models.list();
    dit = models.find((m) => m.layout === 'dit')!;
    vit = models.find((m) => m.layout !== 'dit')!;
  });
  afterAll(async () => {
    await current.studio.close();
    rmSync(current.dataDir, { recursive: true, force: true });
  });
  const upload = async () => ({ kind: 'upload' as const, name: 'seven.png', base64: (await digitPng(7, 0)).toString('base64') });

  it('samples n PNGs of a class into the media store; the same seed reproduces them, sample i whatever n', async () => {
    const { studio } = current;
    const input = { modelId: dit.id, classId: 7, n: 3, steps: 3, seed: 11, cfg: 3, eta: 0 };
    const first = await studio.diffusion.sample(input);
    expect(first.map((r) => [r.kind, r.className, r.index, r.width, r.height])).toEqual([0, 1, 2].map((i) => ['sample', 'Sneaker', i, 28, 28]));
    for (const r of first) {
      expect(existsSync(studio.media.pathOf('image', r.hash))).toBe(true);
      expect(existsSync(studio.media.pathOf('thumb', r.hash))).toBe(true);
    }
    expect(new Set(first.map((r) => r.hash)).size).toBe(3);
    const again = await studio.diffusion.sample({ ...input, n: 2 });
    expect(again.map((r) => r.hash)).toEqual(first.slice(0, 2).map((r) => r.hash));
    const other = await studio.diffusion.sample({ ...input, n: 1, seed: 12 });
    expect(other[0]!.hash).not.toBe(first[0]!.hash);
    expect(studio.diffusion.results().slice(0, 3).map((r) => r.hash)).toEqual([other[0]!.hash, again[1]!.hash, again[0]!.hash]);
  });

  it('reports progress per denoising step and stops at a chunk boundary when cancelled through jobs.cancel', async () => {
    const { studio, dispatch } = current;
    const seen: { jobId: string; done: number; total: number }[] = [];
    const unsubscribe = studio.events.subscribe((event, payload) => {
      if (event !== 'diffusion.progress') return;
      const progress = payload as (typeof seen)[number];
      seen.push(progress);
      // The first chunk (8 samples) finished: ask to stop.
      if (progress.jobId === 'stop-me' && progress.done === 8 * 2) void dispatch('jobs.cancel', { jobId: 'stop-me' });
    });
    try {
      const input = { modelId: dit.id, classId: 3, n: 10, steps: 2, seed: 2, cfg: 3, eta: 0 };
      const full = await studio.diffusion.sample({ ...input, jobId: 'watch-me' });
      expect(full).toHaveLength(10);
      const watched = seen.filter((p) => p.jobId === 'watch-me');
      expect(watched.map((p) => p.done)).toEqual([8, 16, 18, 20]);
      expect(new Set(watched.map((p) => p.total))).toEqual(new Set([20]));
      const stopped = await studio.diffusion.sample({ ...input, n: 24, jobId: 'stop-me' });
      expect(stopped.map((r) => r.hash)).toEqual(full.slice(0, 8).map((r) => r.hash));
      expect(await dispatch('jobs.cancel', { jobId: 'stop-me' })).toEqual({ ok: true, value: { cancelled: false } });
    } finally {
      unsubscribe();
    }
  });

  it('edits an uploaded image: t0 = 0 returns it; a real edit is seeded; β is used only with a fine-tuned model', async () => {
    const { studio } = current;
    const base = { modelId: dit.id, image: await upload(), targetClass: 1, scale: 3, beta: 0.5, window: { from: 0.5, to: 1 }, steps: 3, seed: 4 };
    const identity = await studio.diffusion.edit({ ...base, t0: 0 });
    expect(identity.after.hash).toBe(identity.before.hash);
    expect(identity).toMatchObject({ betaUsed: 0, fineTunedName: null, before: { kind: 'input', width: 28 }, after: { kind: 'edit', className: 'Trouser' } });
    const edited = await studio.diffusion.edit({ ...base, t0: 0.6 });
    expect(edited.after.hash).not.toBe(edited.before.hash);
    expect((await studio.diffusion.edit({ ...base, t0: 0.6 })).after.hash).toBe(edited.after.hash);
    const guided = await studio.diffusion.edit({ ...base, t0: 0.6, fineTuned: { kind: 'model', modelId: dit.id, classId: 7 } });
    expect(guided.betaUsed).toBe(0.5);
    expect(guided.fineTunedName).toBe(dit.name);
    expect(guided.after.hash).not.toBe(edited.after.hash);
    // A result is itself an image to edit further, by hash.
    const chained = await studio.diffusion.edit({ ...base, t0: 0.3, image: { kind: 'stored', hash: edited.after.hash } });
    expect(chained.before.hash).toBe(edited.after.hash);
  });

  it('guides with a diffusion adapter on the base model; an adapter that does not fit is refused', async () => {
    const { studio, dispatch } = current;
    const folder = mkdtempSync(join(tmpdir(), 'studio-adapter-'));
    try {
      const base = await loadDitFolder(join(BUILT_IN_MODELS, 'dit-fashion'));
      const tuner = initDiffusionTuner(base.params, base.config, 'lora', {}, Rng.fromSeed(1));
      await saveDiffusionAdapter(folder, tuner, base.config, { baseModel: 'dit-fashion', steps: 0 });
      disposeTuner(tuner);
      disposeModel(base);
      const edit = { modelId: dit.id, image: await upload(), targetClass: 1, scale: 3, beta: 0.5, window: { from: 0, to: 1 }, t0: 0.6, steps: 3, seed: 4 };
      const plain = await studio.diffusion.edit(edit);
      const guided = await studio.diffusion.edit({ ...edit, fineTuned: { kind: 'adapter', path: folder, classId: 7 } });
      expect(guided.betaUsed).toBe(0.5);
      expect(guided.fineTunedName).toMatch(/\+ studio-adapter-/);
      expect(guided.after.hash).not.toBe(plain.after.hash);
      const missing = join(folder, 'nope');
      expect(await dispatch('diffusion.edit', { ...edit, fineTuned: { kind: 'adapter', path: missing, classId: 7 } })).toMatchObject({ ok: false, error: { code: 'validation', message: /cannot be applied/ } });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('keeps a result in a dataset through the import path, labeled with the class named', async () => {
    const { studio } = current;
    const [sample] = await studio.diffusion.sample({ modelId: dit.id, classId: 8, n: 1, steps: 2, seed: 3, cfg: 3, eta: 0 });
    const datasetId = studio.datasets.create('generated').id;
    await studio.diffusion.keep({ hash: sample!.hash, datasetId, className: 'Bag' });
    await studio.imports.idle();
    const page = studio.store.images.page(datasetId, {}, 0, 10);
    expect(page.items.map((i) => i.hash)).toEqual([sample!.hash]);
    const classes = studio.datasets.get(datasetId).classes;
    expect(classes.find((c) => c.id === page.items[0]!.classId)?.name).toBe('Bag');
  });

  it('refuses a classifier as a diffusion model, unknown classes and images, and inputs outside their schema', async () => {
    const { dispatch } = current;
    const sample = { modelId: dit.id, classId: 0, n: 1, steps: 2, seed: 1, cfg: 3 };
    expect(await dispatch('diffusion.sample', { ...sample, modelId: vit.id })).toMatchObject({ ok: false, error: { code: 'validation', message: /not a diffusion model/ } });
    expect(await dispatch('diffusion.sample', { ...sample, classId: 10 })).toMatchObject({ ok: false, error: { code: 'validation', message: /classes 0…9/ } });
    expect(await dispatch('diffusion.sample', { ...sample, n: 0 })).toMatchObject({ ok: false, error: { code: 'validation' } });
    const edit = { modelId: dit.id, image: { kind: 'stored', hash: 'a'.repeat(64) }, targetClass: 1, scale: 3, beta: 0.5, window: { from: 0, to: 1 }, t0: 0.5, steps: 2, seed: 1 };
    expect(await dispatch('diffusion.edit', edit)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await dispatch('diffusion.edit', { ...edit, window: { from: 0.8, to: 0.2 } })).toMatchObject({ ok: false, error: { code: 'validation' } });
    expect(await dispatch('diffusion.edit', { ...edit, image: { kind: 'path', path: '/etc/passwd' } })).toMatchObject({ ok: false, error: { code: 'validation' } });
    expect(await dispatch('diffusion.edit', { ...edit, image: { kind: 'upload', name: 'a.txt', base64: Buffer.from('not an image').toString('base64') } })).toMatchObject({
      ok: false,
      error: { code: 'validation', message: /a\.txt: not an image/ },
    });
    expect(await dispatch('diffusion.keep', { hash: 'b'.repeat(64), datasetId: 1 })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});
