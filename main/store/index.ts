import { openDb, type Db } from './db';
import { createDatasetsRepo } from './datasets';
import { createImagesRepo } from './images';
import { createImportsRepo } from './imports';
import { createLabelsRepo } from './labels';
import { createModelsRepo } from './models';
import { createPredictionsRepo } from './predictions';
import { createRunsRepo } from './runs';

/** The store: one database, one repo per table group. The main process is its one writer. */
export function openStore(file: string) {
  const db = openDb(file);
  return {
    db,
    datasets: createDatasetsRepo(db),
    images: createImagesRepo(db),
    imports: createImportsRepo(db),
    labels: createLabelsRepo(db),
    models: createModelsRepo(db),
    predictions: createPredictionsRepo(db),
    runs: createRunsRepo(db),
    /** Runs fn in one transaction: all of its writes land, or none. */
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    close: () => db.close(),
  };
}

export type Store = ReturnType<typeof openStore>;
export type { Db };
