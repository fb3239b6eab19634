// Migration 5: what an evaluation predicted for each image it scored, kept per run, so labeling can
// filter by "predicted class = X (run R)" and "prediction disagrees with the label (run R)".
export const predictionsSchema = `
CREATE TABLE predictions (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  -- The model's class, by name; class_id is the dataset's class of that name when it was scored
  -- (null when the dataset has none, or it was deleted since).
  class_name TEXT NOT NULL,
  class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
  confidence REAL NOT NULL,
  PRIMARY KEY (run_id, image_id)
) WITHOUT ROWID;
CREATE INDEX predictions_by_image ON predictions(image_id);
CREATE INDEX predictions_by_class ON predictions(class_id);
`;
