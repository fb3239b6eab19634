// Migration 3: what a run's worker reported (backend, parameter counts, summary), as JSON.
export const runInfoSchema = `ALTER TABLE runs ADD COLUMN info_json TEXT NOT NULL DEFAULT '{}';`;
