import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AppInfo, BackendInfo } from '../preload/api';
import { openStore } from './store';
import { createDispatch, createHandlers } from './services/api';
import { createDatasetService } from './services/datasets';
import { createDiffusionService } from './services/diffusion';
import { createEvaluationService } from './services/evaluation';
import { createEventBus } from './services/events';
import { createImportService } from './services/imports';
import { createLabelingService } from './services/labeling';
import { createMediaStore } from './services/media';
import { createModelService } from './services/models';
import { createPreviewService } from './services/previews';
import { createRunExport } from './services/run-export';
import { createRunService, runFolder, type WorkerEntry } from './services/runs';
import { createSoupService } from './services/soups';

export interface StudioOptions {
  dataDir: string;
  shell: AppInfo['shell'];
  version: string;
  /** The training process entry (built worker.js, or the TypeScript source under tests). */
  worker: WorkerEntry;
  /** A native folder picker; only the Electron shell has one. */
  pickFolder?: () => Promise<string | null>;
  /** Opens a folder in the OS shell (Electron's shell.openPath: '' or an error message). */
  openPath?: (path: string) => Promise<string>;
  /** The app's embedded models (resources/models), listed as built-in; none when undefined. */
  builtInModelsDir?: string;
}

/** Opens the data folder and builds every service once; both shells serve what this returns. */
export function createStudio(options: StudioOptions) {
  mkdirSync(options.dataDir, { recursive: true });
  const store = openStore(join(options.dataDir, 'studio.db'));
  store.imports.failInterrupted();
  store.runs.interruptRunning();
  const media = createMediaStore(options.dataDir);
  const events = createEventBus();
  // Which tensor backend the engine gets here; probed once, on first ask, off the start-up path.
  let backend: Promise<BackendInfo> | undefined;
  const probeBackend = () =>
    (backend ??= import('./engine/backend')
      .then(({ initBackend }) => initBackend())
      .catch((error: unknown) => ({ name: 'none', reason: error instanceof Error ? error.message : String(error) })));
  const imports = createImportService(store, media, events);
  const evaluation = createEvaluationService(store, media, options.dataDir);
  const diffusion = createDiffusionService(store, media, imports, events);
  let startupSweep: Promise<unknown> = Promise.resolve();
  const studio = {
    store,
    media,
    events,
    datasets: createDatasetService(store, media, (hash) => imports.isPending(hash) || store.images.isHashReferenced(hash) || diffusion.holds(hash) || store.runs.isPreviewHash(hash)),
    imports,
    labeling: createLabelingService(store, events),
    runs: createRunService(store, media, events, options.dataDir, options.worker),
    evaluation,
    runExport: createRunExport({
      store,
      dataDir: options.dataDir,
      runDir: (id) => runFolder(options.dataDir, id),
      pickFolder: options.pickFolder,
      openPath: options.openPath,
    }),
    previews: createPreviewService(store, media, evaluation),
    models: createModelService(store, options.builtInModelsDir),
    diffusion,
    soups: createSoupService(store, evaluation, events, options.dataDir),
    info: async (): Promise<AppInfo> => ({
      version: options.version,
      shell: options.shell,
      dataDir: options.dataDir,
      backend: await probeBackend(),
    }),
    pickFolder: async () => (options.pickFolder ? options.pickFolder() : null),
    async close() {
      await startupSweep;
      studio.runs.killAll();
      studio.imports.cancelAll();
      await studio.imports.idle();
      await studio.previews.close();
      await studio.models.settled();
      await studio.diffusion.close();
      store.close();
    },
  };
  // Files a crash left without a row (or half-written temp files) go, in the background.
  startupSweep = studio.datasets.sweepMedia().catch((error: unknown) => console.error('media sweep failed:', error));
  return studio;
}

export type Studio = ReturnType<typeof createStudio>;

export function createStudioDispatch(studio: Studio) {
  return createDispatch(createHandlers(studio));
}
