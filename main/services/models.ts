import { resolve } from 'node:path';
import type { ModelSummary } from '../../preload/api';
import type { Store } from '../store';
import { ServiceError } from './errors';

/**
 * Registers a model folder (Hugging Face shape, any supported key layout) in the store. The
 * weights are loaded once to prove they are complete and consistent, then released; runs load
 * them again in their own process.
 */
export async function importModel(store: Store, dir: string): Promise<ModelSummary> {
  const folder = resolve(dir);
  // The engine (and tfjs) loads only when a model is imported, not at studio start-up.
  const { loadModelFolder, disposeModel, CheckpointError } = await import('../engine/io/checkpoint');
  let loaded;
  try {
    loaded = await loadModelFolder(folder);
  } catch (error) {
    if (error instanceof CheckpointError) throw new ServiceError('validation', error.message);
    throw error;
  }
  disposeModel(loaded);
  return store.models.upsert({ ...loaded.summary, path: folder });
}
