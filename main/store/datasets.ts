import type { ClassSummary, DatasetSummary, Split } from '../../preload/api';
import type { Db } from './db';

interface DatasetRow {
  id: number;
  name: string;
  created_at: string;
  image_count: number;
  class_count: number;
  unlabeled_count: number;
}

const SUMMARY_SQL = `
  SELECT d.id, d.name, d.created_at,
    (SELECT COUNT(*) FROM images i WHERE i.dataset_id = d.id) AS image_count,
    (SELECT COUNT(*) FROM classes c WHERE c.dataset_id = d.id) AS class_count,
    (SELECT COUNT(*) FROM images i LEFT JOIN labels l ON l.image_id = i.id
       WHERE i.dataset_id = d.id AND l.image_id IS NULL) AS unlabeled_count
  FROM datasets d`;

/** Images per split of each dataset (or of one), from the splits side: images in no split are the rest. */
const SPLITS_SQL = `
  SELECT i.dataset_id, s.split, COUNT(*) AS n FROM splits s JOIN images i ON i.id = s.image_id`;

const toSummary = (row: DatasetRow, splits: { split: Split; n: number }[]): DatasetSummary => {
  const splitCounts = { train: 0, val: 0, test: 0, none: row.image_count };
  for (const { split, n } of splits) {
    splitCounts[split] = n;
    splitCounts.none -= n;
  }
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
    imageCount: row.image_count,
    classCount: row.class_count,
    unlabeledCount: row.unlabeled_count,
    splitCounts,
  };
};

/** A palette that stays distinguishable for the first dozen classes, then cycles hue. */
export function classColor(position: number): string {
  const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  return position < palette.length ? palette[position] : `hsl(${(position * 137.508) % 360} 55% 55%)`;
}

export function createDatasetsRepo(db: Db) {
  const list = db.prepare<[], DatasetRow>(`${SUMMARY_SQL} ORDER BY d.created_at DESC, d.id DESC`);
  const get = db.prepare<[number], DatasetRow>(`${SUMMARY_SQL} WHERE d.id = ?`);
  const allSplits = db.prepare<[], { dataset_id: number; split: Split; n: number }>(`${SPLITS_SQL} GROUP BY i.dataset_id, s.split`);
  const splitsOf = db.prepare<[number], { dataset_id: number; split: Split; n: number }>(`${SPLITS_SQL} WHERE i.dataset_id = ? GROUP BY s.split`);
  const insert = db.prepare<[string], { id: number }>('INSERT INTO datasets (name) VALUES (?) RETURNING id');
  const rename = db.prepare<[string, number]>(
    "UPDATE datasets SET name = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
  );
  const remove = db.prepare<[number]>('DELETE FROM datasets WHERE id = ?');
  const exists = db.prepare<[number], number>('SELECT 1 FROM datasets WHERE id = ?').pluck();
  const byName = db.prepare<[string], { id: number }>('SELECT id FROM datasets WHERE name = ?');
  const classes = db.prepare<[number], { id: number; name: string; color: string; image_count: number }>(`
    SELECT c.id, c.name, c.color, COUNT(l.image_id) AS image_count
    FROM classes c LEFT JOIN labels l ON l.class_id = c.id
    WHERE c.dataset_id = ? GROUP BY c.id ORDER BY c.position, c.id`);
  const classByName = db.prepare<[number, string], { id: number }>('SELECT id FROM classes WHERE dataset_id = ? AND name = ?');
  const nextPosition = db.prepare<[number], { next: number }>(
    'SELECT COALESCE(MAX(position) + 1, 0) AS next FROM classes WHERE dataset_id = ?',
  );
  const insertClass = db.prepare<[number, string, string, number], { id: number }>(
    'INSERT INTO classes (dataset_id, name, color, position) VALUES (?, ?, ?, ?) RETURNING id',
  );

  const classById = db.prepare<[number], { id: number; dataset_id: number; name: string; color: string }>(
    'SELECT id, dataset_id, name, color FROM classes WHERE id = ?',
  );
  const updateClass = db.prepare<[string, string, number]>('UPDATE classes SET name = ?, color = ? WHERE id = ?');
  const deleteClass = db.prepare<[number]>('DELETE FROM classes WHERE id = ?');
  const moveLabels = db.prepare<[number, number]>('UPDATE labels SET class_id = ? WHERE class_id = ?');
  const deleteImagesOfClass = db.prepare<[number]>('DELETE FROM images WHERE id IN (SELECT image_id FROM labels WHERE class_id = ?)');

  return {
    list: (): DatasetSummary[] => {
      const splits = new Map<number, { split: Split; n: number }[]>();
      for (const row of allSplits.all()) splits.set(row.dataset_id, [...(splits.get(row.dataset_id) ?? []), row]);
      return list.all().map((row) => toSummary(row, splits.get(row.id) ?? []));
    },
    get: (id: number): DatasetSummary | undefined => {
      const row = get.get(id);
      return row && toSummary(row, splitsOf.all(id));
    },
    /** Whether the dataset exists, without counting its images as get() does. */
    exists: (id: number): boolean => exists.get(id) !== undefined,
    findIdByName: (name: string): number | undefined => byName.get(name)?.id,
    create: (name: string): number => insert.get(name)!.id,
    rename: (id: number, name: string): boolean => rename.run(name, id).changes > 0,
    delete: (id: number): boolean => remove.run(id).changes > 0,
    classes: (datasetId: number): ClassSummary[] =>
      classes.all(datasetId).map((c) => ({ id: c.id, name: c.name, color: c.color, imageCount: c.image_count })),
    /** The class of that name, created (with the next colour) if the dataset lacks it. */
    ensureClass: (datasetId: number, name: string): number => {
      const existing = classByName.get(datasetId, name);
      if (existing) return existing.id;
      const position = nextPosition.get(datasetId)!.next;
      return insertClass.get(datasetId, name, classColor(position), position)!.id;
    },
    createClass: (datasetId: number, name: string, color?: string): number => {
      const position = nextPosition.get(datasetId)!.next;
      return insertClass.get(datasetId, name, color ?? classColor(position), position)!.id;
    },
    classById: (id: number) => {
      const row = classById.get(id);
      return row && { id: row.id, datasetId: row.dataset_id, name: row.name, color: row.color };
    },
    updateClass: (id: number, name: string, color: string): void => void updateClass.run(name, color, id),
    /** Deletes a class; its images become unlabeled (labels cascade) unless deleted first. */
    deleteClass: (id: number, deleteImages: boolean): void => {
      if (deleteImages) deleteImagesOfClass.run(id);
      deleteClass.run(id);
    },
    moveLabels: (fromClassId: number, toClassId: number): number => moveLabels.run(toClassId, fromClassId).changes,
  };
}

export type DatasetsRepo = ReturnType<typeof createDatasetsRepo>;
