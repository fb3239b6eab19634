import type { Db } from './db';

export interface NewPrediction {
  imageHash: string;
  /** The model's class name; matched to the dataset's class of that name. */
  className: string;
  confidence: number;
}

/** Per-image predictions of runs' evaluations: what labeling filters by. */
export function createPredictionsRepo(db: Db) {
  // The image by its bytes in the run's dataset, the class by its name there.
  const upsert = db.prepare<[number, string, string, number, number, string]>(`
    INSERT INTO predictions (run_id, image_id, class_name, class_id, confidence)
    SELECT ?, i.id, ?, (SELECT c.id FROM classes c WHERE c.dataset_id = i.dataset_id AND c.name = ?), ?
    FROM images i WHERE i.dataset_id = ? AND i.hash = ?
    ON CONFLICT (run_id, image_id) DO UPDATE SET
      class_name = excluded.class_name, class_id = excluded.class_id, confidence = excluded.confidence`);
  const runsOf = db.prepare<[number], { run_id: number; name: string; n: number }>(`
    SELECT p.run_id, r.name, COUNT(*) AS n FROM predictions p
    JOIN images i ON i.id = p.image_id JOIN runs r ON r.id = p.run_id
    WHERE i.dataset_id = ? GROUP BY p.run_id ORDER BY p.run_id DESC`);

  return {
    /** Stores (or replaces) a run's predictions for images of its dataset; returns how many matched an image. */
    save: (runId: number, datasetId: number, predictions: readonly NewPrediction[]): number => {
      let saved = 0;
      for (const p of predictions) saved += upsert.run(runId, p.className, p.className, p.confidence, datasetId, p.imageHash).changes;
      return saved;
    },
    /** Runs with stored predictions on a dataset's images, newest first. */
    runsOf: (datasetId: number): { runId: number; name: string; count: number }[] =>
      runsOf.all(datasetId).map((r) => ({ runId: r.run_id, name: r.name, count: r.n })),
  };
}

export type PredictionsRepo = ReturnType<typeof createPredictionsRepo>;
