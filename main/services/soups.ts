// Model soups of finished runs (engine/soup.ts): the uniform and the greedy average of their
// trained weights, scored on the images that every ingredient held out, and kept as a model.
// Runs are averaged as the merged models evaluation scores (base + each run's update), which is
// the weight-space average Wortsman et al. take; for LoRA it averages B·A, not A and B apart.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelSummary, SoupProgress, SoupReport } from '../../preload/api';
import type { DatasetManifest } from '../engine/data/manifest';
import type { LoadedModel } from '../engine/io/checkpoint';
import type { VitParams } from '../engine/models/vit';
import type { Store } from '../store';
import { notFound, ServiceError } from './errors';
import type { EvaluationService } from './evaluation';
import type { EventBus } from './events';
import { importModel } from './models';

interface Ingredient {
  runId: number;
  name: string;
  model: LoadedModel;
  dispose: () => void;
}

/** Images per forward pass: progress is reported, and a cancel honoured, between batches. */
const BATCH = 32;

type Stage = Omit<SoupProgress, 'jobId' | 'imagesDone' | 'imagesTotal' | 'done' | 'total'>;

/** Images held out by every run (no ingredient trained on them), labelled by class name. */
export function sharedHeldOut(manifests: readonly DatasetManifest[]): DatasetManifest {
  const [first, ...rest] = manifests as [DatasetManifest, ...DatasetManifest[]];
  const keyed = (m: DatasetManifest) => new Set(m.items.map((item) => `${item.file}\0${m.classes[item.label]}`));
  const others = rest.map(keyed);
  return { classes: first.classes, items: first.items.filter((item) => others.every((s) => s.has(`${item.file}\0${first.classes[item.label]}`))) };
}

export function createSoupService(store: Store, evaluation: EvaluationService, events: EventBus, dataDir: string) {
  // Soups being made under a caller's jobId: jobs.cancel aborts them between evaluation batches.
  const jobs = new Map<string, AbortController>();

  /**
   * Loads every run's model after checking that the runs finished and can share one soup.
   * `onLoading` hears of each run before it loads; `signal` stops between runs.
   */
  async function loadIngredients(runIds: readonly number[], onLoading?: (index: number, name: string) => void, signal?: AbortSignal): Promise<Ingredient[]> {
    if (new Set(runIds).size !== runIds.length) throw new ServiceError('validation', 'A run appears twice in the soup.');
    const runs = runIds.map((id) => {
      const run = store.runs.get(id);
      if (!run) throw notFound(`Run ${id}`);
      if (run.status !== 'done') throw new ServiceError('conflict', `Run ${run.name} has not finished (it is ${run.status}): only finished runs go into a soup.`);
      return run;
    });
    const { checkSoupable, SoupError } = await import('../engine/soup');
    const { getMethod } = await import('../engine/methods/registry');
    const { parseOptions, trainableShapes } = await import('../engine/methods/framework');
    const models = new Map(store.models.list().map((m) => [m.id, m]));
    const ingredients: Ingredient[] = [];
    try {
      for (const [i, run] of runs.entries()) {
        signal?.throwIfAborted();
        onLoading?.(i, run.name);
        ingredients.push({ runId: run.id, name: run.name, ...(await evaluation.loadRunModel(run.id)) });
      }
      checkSoupable(
        ingredients.map(({ model }, i) => {
          const run = runs[i]!;
          const spec = (run.config as { spec?: { method?: string; methodOptions?: unknown } }).spec ?? {};
          const method = getMethod(spec.method ?? run.method);
          const base = run.modelId === null ? 'a deleted model' : `${models.get(run.modelId)?.name ?? 'model'} (#${run.modelId})`;
          return {
            label: `run ${run.name}`,
            base,
            method: method.name,
            trainableShapes: trainableShapes(method, model.config, parseOptions(method, spec.methodOptions)),
            classes: model.id2label,
          };
        }),
      );
      return ingredients;
    } catch (error) {
      for (const ingredient of ingredients) ingredient.dispose();
      if (error instanceof SoupError) throw new ServiceError('conflict', `${error.message}.`);
      throw error;
    }
  }

  /** Averages the ingredients' weights, hands them to `use`, then frees them. */
  async function withSoup<T>(members: readonly Ingredient[], use: (params: VitParams) => Promise<T>): Promise<T> {
    const tf = await import('@tensorflow/tfjs');
    const { averageParams } = await import('../engine/soup');
    const params = averageParams(members.map((m) => m.model.params));
    try {
      return await use(params);
    } finally {
      tf.dispose(Object.values(params));
    }
  }

  /**
   * Scores every ingredient, the uniform soup and the greedy soup on the shared held-out images.
   * `report` hears each stage and each batch; `signal` aborts between batches and between runs.
   */
  async function make(runIds: readonly number[], report: (progress: Omit<SoupProgress, 'jobId'>) => void, signal: AbortSignal): Promise<SoupReport> {
    const { initBackend } = await import('../engine/backend');
    await initBackend();
    const { evaluate } = await import('../engine/eval');
    const { manifestDataset } = await import('../engine/data/manifest');
    const { greedySoup } = await import('../engine/soup');
    const n = runIds.length;
    // Each ingredient alone, the uniform soup and n − 1 greedy steps: 2n scorings of the held-out images.
    let total = 0;
    let scoredBefore = 0;
    const ingredients = await loadIngredients(runIds, (i, runName) => report({ stage: 'loading', index: i + 1, count: n, runName, imagesDone: 0, imagesTotal: 0, done: 0, total }), signal);
    try {
      const heldOut = sharedHeldOut(await Promise.all(runIds.map((id) => evaluation.valManifest(id))));
      if (heldOut.items.length === 0) {
        throw new ServiceError(
          'conflict',
          'These runs share no held-out image (each trained on the others\' validation images): give the dataset a val split, or use runs with the same seed and validation fraction.',
        );
      }
      const images = heldOut.items.length;
      total = 2 * n * images;
      const data = manifestDataset(heldOut);
      const template = ingredients[0]!.model;
      const accuracy = async (params: VitParams, stage: Stage) => {
        // Let a jobs.cancel call (and the last batch's events) through before the next scoring.
        await new Promise((resolve) => setImmediate(resolve));
        signal.throwIfAborted();
        let imagesDone = 0;
        const tell = () => report({ ...stage, imagesDone, imagesTotal: images, done: scoredBefore + imagesDone, total });
        tell();
        const result = await evaluate({ ...template, params }, data, {
          batchSize: BATCH,
          signal,
          onPrediction: () => {
            imagesDone++;
            if (imagesDone % BATCH === 0 || imagesDone === images) tell();
          },
        });
        scoredBefore += images;
        return result.accuracy;
      };
      const scored = [];
      for (const [i, ingredient] of ingredients.entries()) {
        scored.push({ item: ingredient, score: await accuracy(ingredient.model.params, { stage: 'ingredient', index: i + 1, count: n, runName: ingredient.name }) });
      }
      const uniform = await withSoup(ingredients, (params) => accuracy(params, { stage: 'uniform', index: 1, count: 1 }));
      let step = 0;
      const greedy = await greedySoup(scored, (members) =>
        withSoup(members, (params) => accuracy(params, { stage: 'greedy', index: ++step, count: n - 1, runName: members.at(-1)!.name })),
      );
      const seeds = runIds.map((id) => (store.runs.get(id)?.config as { spec?: { seed?: number } }).spec?.seed ?? 0);
      return {
        heldOut: images,
        sharedStart: new Set(seeds).size === 1,
        classes: template.id2label,
        ingredients: scored.map(({ item, score }) => ({ runId: item.runId, name: item.name, accuracy: score })),
        uniform: { runIds: ingredients.map((i) => i.runId), accuracy: uniform },
        greedy: {
          runIds: greedy.members.map((i) => i.runId),
          accuracy: greedy.score,
          steps: greedy.steps.map((s) => ({ runId: s.item.runId, accuracy: s.score, kept: s.kept })),
        },
      };
    } finally {
      for (const ingredient of ingredients) ingredient.dispose();
    }
  }

  return {
    /**
     * The soup report of finished runs. With a jobId: soups.progress events, and jobs.cancel stops
     * it between evaluation batches (the call then fails with a "cancelled" conflict, nothing kept).
     */
    async make(runIds: number[], jobId?: string): Promise<SoupReport> {
      // Registered at once, so a cancel reaches a soup still loading its runs.
      const controller = new AbortController();
      if (jobId) jobs.set(jobId, controller);
      try {
        return await make(runIds, (progress) => jobId && events.emit('soups.progress', { jobId, ...progress }), controller.signal);
      } catch (error) {
        if (controller.signal.aborted) throw new ServiceError('conflict', 'The soup was cancelled: nothing was kept.');
        throw error;
      } finally {
        if (jobId && jobs.get(jobId) === controller) jobs.delete(jobId);
      }
    },

    /** Asks a soup being made to stop at its next batch; false when no soup runs under that jobId. */
    cancel(jobId: string): boolean {
      const controller = jobs.get(jobId);
      controller?.abort();
      return controller !== undefined;
    },

    /** Writes the soup as a model folder under the data folder and registers it like an imported model. */
    async keep(runIds: number[], recipe: 'uniform' | 'greedy', name?: string): Promise<ModelSummary> {
      const { writeModelFolder } = await import('../engine/train/export');
      const ingredients = await loadIngredients(runIds);
      const dir = join(dataDir, 'models', `soup-${randomUUID()}`);
      try {
        const template = ingredients[0]!.model;
        const title = name ?? `${recipe} soup of ${ingredients.map((i) => i.name).join(' + ')}`.slice(0, 200);
        await withSoup(ingredients, (params) =>
          writeModelFolder(dir, params, template.config, { name: title, preprocess: template.preprocess, id2label: template.id2label }),
        );
        return await importModel(store, dir);
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      } finally {
        for (const ingredient of ingredients) ingredient.dispose();
      }
    },
  };
}

export type SoupService = ReturnType<typeof createSoupService>;
