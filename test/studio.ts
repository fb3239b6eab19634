import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStudio, createStudioDispatch, type StudioOptions } from '../main/studio';

/** The app's embedded models, as both shells find them. */
export const BUILT_IN_MODELS = join(__dirname, '../resources/models');

/** A studio on a fresh temporary data folder, as both shells build it. */
export function tempStudio(options: Partial<StudioOptions> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'studio-home-'));
  const studio = createStudio({
    dataDir,
    shell: 'remote',
    version: 'test',
    worker: { modulePath: join(__dirname, '../main/worker/index.ts'), execArgv: ['--require', 'tsx/cjs'] },
    ...options,
  });
  return { dataDir, studio, dispatch: createStudioDispatch(studio) };
}
