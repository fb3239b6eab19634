import type { ClassSummary, DatasetSummary } from '../../preload/api';
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

const toSummary = (row: DatasetRow): DatasetSummary => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  imageCount: row.image_count,
  classCount: row.class_count,
  unlabeledCount: row.unlabeled_count,
});

/** A palette that stays distinguishable for the first dozen classes, then cycles hue. */
export function classColor(position: number): string {
  const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  return position < palette.length ? palette[position] : `hsl(${(position * 137.508) % 360} 55% 55%)`;
}

export function createDatasetsRepo(db: Db) {
  const list = db.prepare<[], DatasetRow>(`${SUMMARY_SQL} ORDER BY d.created_at DESC, d.id DESC`);
  const get = db.prepare<[number], DatasetRow>(`${SUMMARY_SQL} WHERE d.id = ?`);
  const insert = db.prepare<[string], { id: number }>('INSERT INTO datasets (name) VALUES (?) RETURNING id');
  const rename = db.prepare<[string, number]>(
    "UPDATE datasets SET name = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
  );
  const remove = db.prepare<[number]>('DELETE FROM datasets WHERE id = ?');
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

  return {
    list: (): DatasetSummary[] => list.all().map(toSummary),
    get: (id: number): DatasetSummary | undefined => {
      const row = get.get(id);
      return row && toSummary(row);
    },
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
  };
}

export type DatasetsRepo = ReturnType<typeof createDatasetsRepo>;
