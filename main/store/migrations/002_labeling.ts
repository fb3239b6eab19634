// Migration 2: captions (prompts for diffusion datasets) and the indexes labeling filters need.
export const labelingSchema = `
CREATE TABLE captions (
  image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
  text TEXT NOT NULL
);
CREATE INDEX images_by_dataset_import ON images(dataset_id, import_id);
CREATE INDEX images_by_dataset_name ON images(dataset_id, file_name);
CREATE INDEX splits_by_split ON splits(split);
`;
