import { createHash } from 'node:crypto';
import type { ClassSummary, LabelChange, ParsedInput, Split } from '../../preload/api';
import type { Store } from '../store';
import { notFound, ServiceError } from './errors';
import type { EventBus } from './events';

/** One user action on labels: enough to undo and redo it exactly. */
interface LabelAction {
  imageIds: number[];
  before: (number | null)[];
  after: (number | null)[];
}

const HISTORY_LIMIT = 500;
const SPLITS: Split[] = ['train', 'val', 'test'];

/** A stable pseudo-random rank per image: the same seed and bytes always give the same order. */
const rank = (seed: number, hash: string) => createHash('sha256').update(`${seed}:${hash}`).digest().readUInt32BE(0);

export function createLabelingService(store: Store, events: EventBus) {
  // Every change tells other windows (and the other shell) to refresh the dataset.
  const notify = <T>(datasetId: number, result: T): T => {
    events.emit('datasets.changed', { datasetId });
    return result;
  };
  const history = new Map<number, { undo: LabelAction[]; redo: LabelAction[] }>();
  const historyOf = (datasetId: number) => {
    let h = history.get(datasetId);
    if (!h) history.set(datasetId, (h = { undo: [], redo: [] }));
    return h;
  };
  const change = (datasetId: number, imageIds: number[]): LabelChange => {
    const h = historyOf(datasetId);
    return { imageIds, canUndo: h.undo.length > 0, canRedo: h.redo.length > 0 };
  };

  const requireDataset = (datasetId: number) => {
    if (!store.datasets.get(datasetId)) throw notFound(`Dataset ${datasetId}`);
  };
  const requireClass = (classId: number, datasetId?: number) => {
    const found = store.datasets.classById(classId);
    if (!found) throw notFound(`Class ${classId}`);
    if (datasetId !== undefined && found.datasetId !== datasetId) {
      throw new ServiceError('validation', `Class ${found.name} belongs to another dataset.`);
    }
    return found;
  };
  const requireImages = (datasetId: number, imageIds: readonly number[]) => {
    const unique = [...new Set(imageIds)];
    if (store.images.countInDataset(datasetId, unique) !== unique.length) {
      throw new ServiceError('validation', 'Some selected images are not in this dataset (any more): reload the grid.');
    }
    return unique;
  };
  const classSummary = (classId: number): ClassSummary => {
    const found = requireClass(classId);
    return store.datasets.classes(found.datasetId).find((c) => c.id === classId)!;
  };

  /** Applies one side of an action in a single transaction: all labels change, or none. */
  const apply = (imageIds: number[], labels: (number | null)[]) =>
    store.transaction(() => store.labels.setLabels(imageIds.map((id, i) => [id, labels[i]!])));

  return {
    setLabels(datasetId: number, imageIds: number[], classId: number | null): LabelChange {
      requireDataset(datasetId);
      if (classId !== null) requireClass(classId, datasetId);
      const ids = requireImages(datasetId, imageIds);
      const current = store.labels.labelsOf(ids);
      const changed = ids.filter((id) => (current.get(id) ?? null) !== classId);
      if (changed.length > 0) {
        const action = { imageIds: changed, before: changed.map((id) => current.get(id) ?? null), after: changed.map(() => classId) };
        apply(action.imageIds, action.after);
        const h = historyOf(datasetId);
        h.undo.push(action);
        if (h.undo.length > HISTORY_LIMIT) h.undo.shift();
        h.redo = [];
      }
      return changed.length > 0 ? notify(datasetId, change(datasetId, changed)) : change(datasetId, changed);
    },
    undo(datasetId: number): LabelChange {
      requireDataset(datasetId);
      const h = historyOf(datasetId);
      const action = h.undo.pop();
      if (!action) return change(datasetId, []);
      apply(action.imageIds, action.before);
      h.redo.push(action);
      return notify(datasetId, change(datasetId, action.imageIds));
    },
    redo(datasetId: number): LabelChange {
      requireDataset(datasetId);
      const h = historyOf(datasetId);
      const action = h.redo.pop();
      if (!action) return change(datasetId, []);
      apply(action.imageIds, action.after);
      h.undo.push(action);
      return notify(datasetId, change(datasetId, action.imageIds));
    },

    createClass(datasetId: number, name: string, color?: string): ClassSummary {
      requireDataset(datasetId);
      return notify(datasetId, classSummary(store.datasets.createClass(datasetId, name, color)));
    },
    updateClass(id: number, name?: string, color?: string): ClassSummary {
      const found = requireClass(id);
      store.datasets.updateClass(id, name ?? found.name, color ?? found.color);
      return notify(found.datasetId, classSummary(id));
    },
    /** Moves every image of source into target, then removes source. Clears undo history (ids changed meaning). */
    mergeClasses(sourceId: number, targetId: number): { moved: number } {
      const source = requireClass(sourceId);
      requireClass(targetId, source.datasetId);
      if (sourceId === targetId) throw new ServiceError('validation', 'Pick two different classes to merge.');
      const moved = store.transaction(() => {
        const n = store.datasets.moveLabels(sourceId, targetId);
        store.datasets.deleteClass(sourceId, false);
        return n;
      });
      history.delete(source.datasetId);
      return notify(source.datasetId, { moved });
    },
    async deleteClass(id: number, images: 'unlabel' | 'delete', sweep: () => Promise<unknown>) {
      const found = requireClass(id);
      store.transaction(() => store.datasets.deleteClass(id, images === 'delete'));
      history.delete(found.datasetId);
      if (images === 'delete') await sweep();
      return notify(found.datasetId, { deleted: true as const });
    },

    /**
     * Stratified, seeded splits. Images that have a split keep it (unless `reassign`), so the
     * split is stable as images are added; each unplaced image goes, in seeded order, to the
     * split of its class that is furthest below its target share. Manual choices always stay.
     */
    makeSplits(input: ParsedInput<'splits.make'>) {
      requireDataset(input.datasetId);
      const ratios: Record<Split, number> = { train: input.train, val: input.val, test: input.test };
      store.transaction(() => {
        if (input.reassign) store.labels.clearAutomaticSplits(input.datasetId);
        const byClass = new Map<number | null, { id: number; split: Split | null; hash: string }[]>();
        for (const row of store.labels.splitRows(input.datasetId)) {
          const group = byClass.get(row.class_id) ?? [];
          group.push({ id: row.image_id, split: row.split, hash: row.hash });
          byClass.set(row.class_id, group);
        }
        for (const group of byClass.values()) {
          const counts: Record<Split, number> = { train: 0, val: 0, test: 0 };
          for (const image of group) if (image.split) counts[image.split]++;
          const unplaced = group.filter((image) => !image.split).sort((a, b) => rank(input.seed, a.hash) - rank(input.seed, b.hash));
          let placed = group.length - unplaced.length;
          for (const image of unplaced) {
            placed++;
            const deficit = (s: Split) => ratios[s] * placed - counts[s];
            const target = SPLITS.filter((s) => ratios[s] > 0).reduce((best, s) => (deficit(s) > deficit(best) ? s : best));
            counts[target]++;
            store.labels.setSplit(image.id, target, false);
          }
        }
      });
      return notify(input.datasetId, store.datasets.get(input.datasetId)!.splitCounts);
    },
    setSplit(datasetId: number, imageIds: number[], split: Split) {
      requireDataset(datasetId);
      const ids = requireImages(datasetId, imageIds);
      store.transaction(() => ids.forEach((id) => store.labels.setSplit(id, split, true)));
      return notify(datasetId, store.datasets.get(datasetId)!.splitCounts);
    },
    setCaption(imageId: number, text: string) {
      if (store.labels.labelsOf([imageId]).size === 0) throw notFound(`Image ${imageId}`);
      store.labels.setCaption(imageId, text);
      return { imageId, caption: text.trim() === '' ? null : text };
    },
  };
}

export type LabelingService = ReturnType<typeof createLabelingService>;
