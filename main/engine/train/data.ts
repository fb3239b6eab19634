// Opens a training data folder with the loaders of data/: an IDX folder (its train pair) or an
// ImageFolder whose sub-folder names become the new head's classes.
import { findIdxPairs, readIdxDataset, readImageFolder, type ImageDataset } from '../data/dataset';
import { manifestDataset, readManifest } from '../data/manifest';

/**
 * data/openDataset() picks the t10k pair of an IDX folder for evaluation; training wants the
 * train pair. An ImageFolder is read without the model's labels: the new head gets exactly the
 * folder names (sorted), whatever the base model was trained on.
 */
export async function openTrainingData(dir: string): Promise<ImageDataset> {
  // The studio hands its runs a manifest of its own content-addressed images and their labels.
  if (dir.endsWith('.json')) return manifestDataset(await readManifest(dir));
  const pairs = await findIdxPairs(dir).catch(() => new Map<string, { images: string; labels: string }>());
  if (pairs.size > 0) {
    const pair = pairs.get('train') ?? [...pairs.entries()].find(([name]) => name !== 't10k' && name !== 'test')?.[1] ?? [...pairs.values()][0]!;
    return readIdxDataset(pair.images, pair.labels);
  }
  return readImageFolder(dir);
}
