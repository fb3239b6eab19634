import type { DatasetDetail, DatasetSummary } from '../../preload/api';
import type { Store } from '../store';
import type { ImageFilter } from '../store/images';
import { notFound } from './errors';
import type { MediaStore } from './media';

/** keep(hash): whether a media file is still needed (referenced by an image, or being imported). */
export function createDatasetService(store: Store, media: MediaStore, keep: (hash: string) => boolean) {
  const summary = (id: number): DatasetSummary => {
    const dataset = store.datasets.get(id);
    if (!dataset) throw notFound(`Dataset ${id}`);
    return dataset;
  };
  /** Page queries run on every scroll: they check the dataset exists without counting it. */
  const mustExist = (id: number): void => {
    if (!store.datasets.exists(id)) throw notFound(`Dataset ${id}`);
  };
  return {
    list: () => store.datasets.list(),
    // Read after every label: only what the page's counts need (the splits chart asks classSplits).
    get: (id: number): DatasetDetail => ({ ...summary(id), classes: store.datasets.classes(id) }),
    classSplits(id: number) {
      mustExist(id);
      return store.labels.classSplits(id);
    },
    create: (name: string) => summary(store.datasets.create(name)),
    rename(id: number, name: string) {
      if (!store.datasets.rename(id, name)) throw notFound(`Dataset ${id}`);
      return summary(id);
    },
    async delete(id: number) {
      if (!store.datasets.delete(id)) throw notFound(`Dataset ${id}`);
      // Files shared with another dataset stay; the rest go with it.
      await media.sweep(keep);
      return { deleted: true as const };
    },
    images(datasetId: number, filter: ImageFilter, offset: number, limit: number, afterId?: number) {
      mustExist(datasetId);
      return { offset, ...store.images.page(datasetId, filter, offset, limit, afterId) };
    },
    imageIds(datasetId: number, filter: ImageFilter) {
      mustExist(datasetId);
      return store.images.ids(datasetId, filter);
    },
    /** Runs whose evaluations left predictions on the dataset's images (the labeling prediction filters). */
    predictionRuns(datasetId: number) {
      mustExist(datasetId);
      return store.predictions.runsOf(datasetId);
    },
    /** Removes files no image references any more. */
    sweepMedia: async () => media.sweep(keep),
  };
}

export type DatasetService = ReturnType<typeof createDatasetService>;
