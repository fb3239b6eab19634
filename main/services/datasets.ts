import type { DatasetDetail, DatasetSummary } from '../../preload/api';
import type { Store } from '../store';
import { notFound } from './errors';
import type { MediaStore } from './media';

export function createDatasetService(store: Store, media: MediaStore) {
  const summary = (id: number): DatasetSummary => {
    const dataset = store.datasets.get(id);
    if (!dataset) throw notFound(`Dataset ${id}`);
    return dataset;
  };
  return {
    list: () => store.datasets.list(),
    get: (id: number): DatasetDetail => ({ ...summary(id), classes: store.datasets.classes(id) }),
    create: (name: string) => summary(store.datasets.create(name)),
    rename(id: number, name: string) {
      if (!store.datasets.rename(id, name)) throw notFound(`Dataset ${id}`);
      return summary(id);
    },
    async delete(id: number) {
      if (!store.datasets.delete(id)) throw notFound(`Dataset ${id}`);
      // Files shared with another dataset stay; the rest go with it.
      await media.sweep(store.images.referencedHashes());
      return { deleted: true as const };
    },
    images(datasetId: number, offset: number, limit: number, classId: number | null | undefined) {
      summary(datasetId);
      return { offset, ...store.images.page(datasetId, offset, limit, classId) };
    },
  };
}

export type DatasetService = ReturnType<typeof createDatasetService>;
