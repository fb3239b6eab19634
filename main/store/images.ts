import type { ImageItem } from '../../preload/api';
import type { Db } from './db';

export interface NewImage {
  datasetId: number;
  hash: string;
  byteSize: number;
  width: number;
  height: number;
  format: string;
  fileName: string;
  sourcePath: string;
  importId: number | null;
  classId: number | null;
}

interface ImageRow {
  id: number;
  hash: string;
  file_name: string;
  width: number;
  height: number;
  class_id: number | null;
}

const toItem = (row: ImageRow): ImageItem => ({
  id: row.id,
  hash: row.hash,
  fileName: row.file_name,
  width: row.width,
  height: row.height,
  classId: row.class_id,
});

export function createImagesRepo(db: Db) {
  const insert = db.prepare<
    [number, string, number, number, number, string, string, string, number | null],
    { id: number }
  >(`INSERT INTO images (dataset_id, hash, byte_size, width, height, format, file_name, source_path, import_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dataset_id, hash) DO NOTHING RETURNING id`);
  const label = db.prepare<[number, number]>('INSERT OR REPLACE INTO labels (image_id, class_id) VALUES (?, ?)');
  const pageAll = db.prepare<[number, number, number], ImageRow>(`
    SELECT i.id, i.hash, i.file_name, i.width, i.height, l.class_id FROM images i
    LEFT JOIN labels l ON l.image_id = i.id WHERE i.dataset_id = ? ORDER BY i.id LIMIT ? OFFSET ?`);
  const countAll = db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM images WHERE dataset_id = ?');
  const pageUnlabeled = db.prepare<[number, number, number], ImageRow>(`
    SELECT i.id, i.hash, i.file_name, i.width, i.height, NULL AS class_id FROM images i
    LEFT JOIN labels l ON l.image_id = i.id WHERE i.dataset_id = ? AND l.image_id IS NULL
    ORDER BY i.id LIMIT ? OFFSET ?`);
  const countUnlabeled = db.prepare<[number], { n: number }>(`
    SELECT COUNT(*) AS n FROM images i LEFT JOIN labels l ON l.image_id = i.id
    WHERE i.dataset_id = ? AND l.image_id IS NULL`);
  const pageClass = db.prepare<[number, number, number, number], ImageRow>(`
    SELECT i.id, i.hash, i.file_name, i.width, i.height, l.class_id FROM images i
    JOIN labels l ON l.image_id = i.id WHERE i.dataset_id = ? AND l.class_id = ?
    ORDER BY i.id LIMIT ? OFFSET ?`);
  const countClass = db.prepare<[number, number], { n: number }>(`
    SELECT COUNT(*) AS n FROM images i JOIN labels l ON l.image_id = i.id
    WHERE i.dataset_id = ? AND l.class_id = ?`);
  const hashExists = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM images WHERE hash = ? LIMIT 1');
  const allHashes = db.prepare<[], { hash: string }>('SELECT DISTINCT hash FROM images');

  return {
    /** Inserts the image (and its label) unless the dataset already holds these bytes; returns the new id or null. */
    add: (image: NewImage): number | null => {
      const row = insert.get(
        image.datasetId, image.hash, image.byteSize, image.width, image.height,
        image.format, image.fileName, image.sourcePath, image.importId,
      );
      if (!row) return null;
      if (image.classId !== null) label.run(row.id, image.classId);
      return row.id;
    },
    page: (datasetId: number, offset: number, limit: number, classId: number | null | undefined) => {
      if (classId === undefined) {
        return { total: countAll.get(datasetId)!.n, items: pageAll.all(datasetId, limit, offset).map(toItem) };
      }
      if (classId === null) {
        return { total: countUnlabeled.get(datasetId)!.n, items: pageUnlabeled.all(datasetId, limit, offset).map(toItem) };
      }
      return {
        total: countClass.get(datasetId, classId)!.n,
        items: pageClass.all(datasetId, classId, limit, offset).map(toItem),
      };
    },
    isHashReferenced: (hash: string): boolean => hashExists.get(hash) !== undefined,
    referencedHashes: (): Set<string> => new Set(allHashes.all().map((r) => r.hash)),
  };
}

export type ImagesRepo = ReturnType<typeof createImagesRepo>;
