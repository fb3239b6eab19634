import type { ModelSummary } from '../../preload/api';
import type { Db } from './db';

interface ModelRow {
  id: number;
  name: string;
  layout: string;
  path: string;
  param_count: number;
  image_size: number;
  num_channels: number;
  classes_json: string;
  created_at: string;
}

export type NewModel = Omit<ModelSummary, 'id' | 'createdAt'>;

const toSummary = (row: ModelRow): ModelSummary => ({
  id: row.id,
  name: row.name,
  layout: row.layout,
  path: row.path,
  paramCount: row.param_count,
  imageSize: row.image_size,
  numChannels: row.num_channels,
  classes: JSON.parse(row.classes_json) as string[],
  createdAt: row.created_at,
});

export function createModelsRepo(db: Db) {
  const list = db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY created_at DESC, id DESC');
  const upsert = db.prepare<[string, string, string, number, number, number, string], ModelRow>(`
    INSERT INTO models (name, layout, path, param_count, image_size, num_channels, classes_json)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (path) DO UPDATE SET name = excluded.name, layout = excluded.layout,
      param_count = excluded.param_count, image_size = excluded.image_size,
      num_channels = excluded.num_channels, classes_json = excluded.classes_json
    RETURNING *`);
  return {
    list: (): ModelSummary[] => list.all().map(toSummary),
    /** Registers a model folder; importing the same folder again refreshes its row. */
    upsert: (m: NewModel): ModelSummary =>
      toSummary(upsert.get(m.name, m.layout, m.path, m.paramCount, m.imageSize, m.numChannels, JSON.stringify(m.classes))!),
  };
}

export type ModelsRepo = ReturnType<typeof createModelsRepo>;
