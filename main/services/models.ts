import { resolve } from 'node:path';
import type { ModelSummary } from '../../preload/api';
import { CheckpointError, disposeModel, loadModelFolder } from '../engine/io/checkpoint';
import type { Store } from '../store';
import { ServiceError } from './errors';

/**
 * Registers a model folder (Hugging Face shape, any supported key layout) in the store. The
 * weights are loaded once to prove they are complete and consistent, then released; runs load
 * them again in their own process.
 */
export async function importModel(store: Store, dir: string): Promise<ModelSummary> {
  const folder = resolve(dir);
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
