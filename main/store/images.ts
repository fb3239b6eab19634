import type { ImageItem, Split } from '../../preload/api';
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

export interface ImageFilter {
  /** undefined: any; null: unlabeled only. */
  classId?: number | null;
  /** 'none': not in any split yet. */
  split?: Split | 'none';
  importId?: number;
  /** Substring of the file name, case-insensitive. */
  search?: string;
  /**
   * Images a run's evaluation scored: predicted as classId, or (disagrees) labeled with another
   * class than predicted; unlabeled images never disagree.
   */
  prediction?: { runId: number; classId?: number; disagrees?: boolean };
}

interface ImageRow {
  id: number;
  hash: string;
  file_name: string;
  width: number;
  height: number;
  class_id: number | null;
  split: Split | null;
  caption: string | null;
}

const toItem = (row: ImageRow): ImageItem => ({
  id: row.id,
  hash: row.hash,
  fileName: row.file_name,
  width: row.width,
  height: row.height,
  classId: row.class_id,
  split: row.split,
  caption: row.caption,
});

const COLUMNS = 'i.id, i.hash, i.file_name, i.width, i.height, l.class_id, s.split, c.text AS caption';
const FROM = `FROM images i LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN splits s ON s.image_id = i.id
  LEFT JOIN captions c ON c.image_id = i.id`;

/**
 * The WHERE clause of a filter and the joins it needs: counting and paging join only the tables
 * the filter reads (a COUNT over every join costs ~10× more at 60,000 images).
 */
function whereOf(datasetId: number, filter: ImageFilter): { joins: string; where: string; params: unknown[] } {
  const clauses = ['i.dataset_id = ?'];
  const params: unknown[] = [datasetId];
  const joins: string[] = [];
  const add = (clause: string, ...values: unknown[]) => {
    clauses.push(clause);
    params.push(...values);
  };
  const prediction = filter.prediction;
  if (filter.classId !== undefined || prediction?.disagrees) joins.push('LEFT JOIN labels l ON l.image_id = i.id');
  if (filter.classId === null) add('l.class_id IS NULL');
  else if (filter.classId !== undefined) add('l.class_id = ?', filter.classId);
  if (filter.split !== undefined) joins.push('LEFT JOIN splits s ON s.image_id = i.id');
  if (filter.split === 'none') add('s.split IS NULL');
  else if (filter.split) add('s.split = ?', filter.split);
  if (filter.importId !== undefined) add('i.import_id = ?', filter.importId);
  if (filter.search) add("i.file_name LIKE ? ESCAPE '\\'", `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (prediction) {
    const predicted = [
      'p.image_id = i.id AND p.run_id = ?',
      ...(prediction.classId !== undefined ? ['p.class_id = ?'] : []),
      ...(prediction.disagrees ? ['p.class_id IS NOT l.class_id'] : []),
    ];
    if (prediction.disagrees) add('l.class_id IS NOT NULL');
    add(`EXISTS (SELECT 1 FROM predictions p WHERE ${predicted.join(' AND ')})`, prediction.runId, ...(prediction.classId !== undefined ? [prediction.classId] : []));
  }
  return { joins: joins.join(' '), where: clauses.join(' AND '), params };
}

export function createImagesRepo(db: Db) {
  const insert = db.prepare<
    [number, string, number, number, number, string, string, string, number | null],
    { id: number }
  >(`INSERT INTO images (dataset_id, hash, byte_size, width, height, format, file_name, source_path, import_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dataset_id, hash) DO NOTHING RETURNING id`);
  const label = db.prepare<[number, number]>('INSERT OR REPLACE INTO labels (image_id, class_id) VALUES (?, ?)');
  const hashExists = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM images WHERE hash = ? LIMIT 1');

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
    /**
     * A page of the filter's images in id order: `limit` images after the image `afterId` when
     * given (keyset paging: as fast at the 60,000th image as at the first), else after skipping
     * `offset`. The skipping walks only the filter's ids, and the columns are read for the page alone.
     */
    page: (datasetId: number, filter: ImageFilter, offset: number, limit: number, afterId?: number) => {
      const { joins, where, params } = whereOf(datasetId, filter);
      const total = db.prepare<unknown[], number>(`SELECT COUNT(*) FROM images i ${joins} WHERE ${where}`).pluck().get(...params) as number;
      const keyset = afterId !== undefined;
      const rows = db
        .prepare<unknown[], ImageRow>(
          `SELECT ${COLUMNS} ${FROM} WHERE i.id IN (
             SELECT i.id FROM images i ${joins} WHERE ${where}${keyset ? ' AND i.id > ?' : ''} ORDER BY i.id LIMIT ? OFFSET ?)
           ORDER BY i.id`,
        )
        .all(...params, ...(keyset ? [afterId, limit, 0] : [limit, offset]));
      return { total, items: rows.map(toItem) };
    },
    /** Ids of every image matching a filter (select-all-in-filter), in grid order. */
    ids: (datasetId: number, filter: ImageFilter): number[] => {
      const { joins, where, params } = whereOf(datasetId, filter);
      return db.prepare<unknown[], number>(`SELECT i.id FROM images i ${joins} WHERE ${where} ORDER BY i.id`).pluck().all(...params) as number[];
    },
    /** The subset of ids that belong to the dataset (to refuse ids from elsewhere). */
    countInDataset: (datasetId: number, ids: readonly number[]): number =>
      db
        .prepare<unknown[], number>(`SELECT COUNT(*) FROM images WHERE dataset_id = ? AND id IN (SELECT value FROM json_each(?))`)
        .pluck()
        .get(datasetId, JSON.stringify(ids)) as number,
    isHashReferenced: (hash: string): boolean => hashExists.get(hash) !== undefined,
  };
}

export type ImagesRepo = ReturnType<typeof createImagesRepo>;
