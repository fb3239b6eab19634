// Migration 6: a diffusion run's sample grids (fixed seeds, one grid per preview step, step 0 =
// the base model), as PNGs in the media store, so the run page compares them step by step.
export const runPreviewsSchema = `
CREATE TABLE run_previews (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash TEXT NOT NULL,
  -- The model class sampled; '' for the null (unconditional) class.
  class_name TEXT NOT NULL,
  PRIMARY KEY (run_id, step, idx)
) WITHOUT ROWID;
CREATE INDEX run_previews_by_hash ON run_previews(hash);
`;
