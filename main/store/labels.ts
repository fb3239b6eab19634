import type { ClassSplitCounts, Split } from '../../preload/api';
import type { Db } from './db';

/** Labels, splits and captions of images: what labeling writes. */
export function createLabelsRepo(db: Db) {
  const labelsOf = db.prepare<[string], { id: number; class_id: number | null }>(`
    SELECT i.id, l.class_id FROM images i LEFT JOIN labels l ON l.image_id = i.id
    WHERE i.id IN (SELECT value FROM json_each(?))`);
  const setLabel = db.prepare<[number, number]>(`
    INSERT INTO labels (image_id, class_id) VALUES (?, ?)
    ON CONFLICT (image_id) DO UPDATE SET class_id = excluded.class_id, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`);
  const clearLabel = db.prepare<[number]>('DELETE FROM labels WHERE image_id = ?');
  const splitsOf = db.prepare<[number], { image_id: number; class_id: number | null; split: Split | null; manual: number; hash: string }>(`
    SELECT i.id AS image_id, l.class_id, s.split, s.manual, i.hash FROM images i
    LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN splits s ON s.image_id = i.id WHERE i.dataset_id = ?`);
  const setSplit = db.prepare<[number, Split, number]>(
    'INSERT INTO splits (image_id, split, manual) VALUES (?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET split = excluded.split, manual = excluded.manual',
  );
  const clearSplits = db.prepare<[number]>(
    'DELETE FROM splits WHERE manual = 0 AND image_id IN (SELECT id FROM images WHERE dataset_id = ?)',
  );
  const classSplits = db.prepare<[number], { class_id: number | null; split: Split | null; n: number }>(`
    SELECT l.class_id, s.split, COUNT(*) AS n FROM images i
    LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN splits s ON s.image_id = i.id
    WHERE i.dataset_id = ? GROUP BY l.class_id, s.split`);
  const setCaption = db.prepare<[number, string]>(
    'INSERT INTO captions (image_id, text) VALUES (?, ?) ON CONFLICT (image_id) DO UPDATE SET text = excluded.text',
  );
  const clearCaption = db.prepare<[number]>('DELETE FROM captions WHERE image_id = ?');

  return {
    /** Current class of each image (null: unlabeled). */
    labelsOf: (imageIds: readonly number[]): Map<number, number | null> =>
      new Map(labelsOf.all(JSON.stringify(imageIds)).map((r) => [r.id, r.class_id])),
    /** Writes labels; callers wrap a whole user action in one transaction. */
    setLabels: (labels: Iterable<[number, number | null]>): void => {
      for (const [imageId, classId] of labels) {
        if (classId === null) clearLabel.run(imageId);
        else setLabel.run(imageId, classId);
      }
    },
    splitRows: (datasetId: number) => splitsOf.all(datasetId),
    setSplit: (imageId: number, split: Split, manual: boolean): void => void setSplit.run(imageId, split, manual ? 1 : 0),
    clearAutomaticSplits: (datasetId: number): void => void clearSplits.run(datasetId),
    /** Images per class (null: unlabeled) and split, in one pass over the dataset. */
    classSplits: (datasetId: number): ClassSplitCounts[] => {
      const byClass = new Map<number | null, Record<Split | 'none', number>>();
      for (const row of classSplits.all(datasetId)) {
        let counts = byClass.get(row.class_id);
        if (!counts) byClass.set(row.class_id, (counts = { train: 0, val: 0, test: 0, none: 0 }));
        counts[row.split ?? 'none'] = row.n;
      }
      return [...byClass].map(([classId, counts]) => ({ classId, counts }));
    },
    setCaption: (imageId: number, text: string): void => {
      if (text.trim() === '') clearCaption.run(imageId);
      else setCaption.run(imageId, text);
    },
  };
}

export type LabelsRepo = ReturnType<typeof createLabelsRepo>;
