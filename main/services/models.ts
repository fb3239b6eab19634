import { readdir } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import type { ModelSummary } from '../../preload/api';
import { CheckpointError, disposeModel, loadModelFolder } from '../engine/io/checkpoint';
import type { Store } from '../store';
import type { NewModel } from '../store/models';
import { ServiceError } from './errors';

/**
 * What the store records of a model folder: a DiT (config.json model_type "dit") or a ViT in any
 * supported key layout. The weights are loaded once to prove they are complete and consistent,
 * then released; runs load them again in their own process.
 */
async function describeFolder(folder: string): Promise<NewModel> {
  // Load on the engine's chosen backend, not tfjs's default cpu one (which also prints its banner).
  const { initBackend } = await import('../engine/backend');
  await initBackend();
  const { isDitFolder, loadDitFolder } = await import('../engine/diffusion/dit-folder');
  if (await isDitFolder(folder)) {
    const dit = await loadDitFolder(folder);
    disposeModel(dit);
    const { config } = dit;
    return { name: dit.name, layout: 'dit', paramCount: dit.paramCount, imageSize: config.imageSize, numChannels: config.inChannels, classes: dit.id2label, path: folder };
  }
  const loaded = await loadModelFolder(folder);
  disposeModel(loaded);
  return { ...loaded.summary, path: folder };
}

/** Registers a model folder (Hugging Face shape, any supported key layout, or a DiT) in the store. */
export async function importModel(store: Store, dir: string): Promise<ModelSummary> {
  const folder = resolve(dir);
  try {
    return store.models.upsert(await describeFolder(folder));
  } catch (error) {
    if (error instanceof CheckpointError) throw new ServiceError('validation', error.message);
    throw error;
  }
}

/**
 * The studio's embedded models (resources/models/*, the starter DiT and classifier): each is
 * registered by its path in the app's resources, so runs and previews can use it like an imported
 * model, and it is never copied into the data folder. builtInDir undefined: none (tests, CLI).
 */
export function createModelService(store: Store, builtInDir: string | undefined) {
  const isBuiltIn = (path: string) => {
    if (!builtInDir) return false;
    const inside = relative(builtInDir, path);
    return inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
  };
  const register = async (): Promise<void> => {
    if (!builtInDir) return;
    const folders = await readdir(builtInDir, { withFileTypes: true }).catch(() => []);
    for (const entry of folders.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      // A built-in that does not load is reported, not fatal: the rest of the studio works without it.
      await importModel(store, join(builtInDir, entry.name)).catch((error: unknown) => console.error(`built-in model ${entry.name}:`, error));
    }
  };
  // Loading the weights needs the engine: off the start-up path, awaited by the first listing.
  let registered: Promise<void> | undefined;
  const ready = () => (registered ??= register());
  return {
    ready,
    /** Waits for a registration in progress (shutdown), without starting one. */
    settled: (): Promise<void> => registered ?? Promise.resolve(),
    /** Built-in models first (by name), then imported ones, newest first. */
    async list(): Promise<ModelSummary[]> {
      await ready();
      const models = store.models.list().map((model) => ({ ...model, builtIn: isBuiltIn(model.path) }));
      const builtIns = models.filter((m) => m.builtIn).sort((a, b) => a.name.localeCompare(b.name));
      return [...builtIns, ...models.filter((m) => !m.builtIn)];
    },
    async import(dir: string): Promise<ModelSummary> {
      await ready();
      const model = await importModel(store, dir);
      return { ...model, builtIn: isBuiltIn(model.path) };
    },
  };
}

export type ModelService = ReturnType<typeof createModelService>;
