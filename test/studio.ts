import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStudio, createStudioDispatch } from '../main/studio';

/** A studio on a fresh temporary data folder, as both shells build it. */
export function tempStudio() {
  const dataDir = mkdtempSync(join(tmpdir(), 'studio-home-'));
  const studio = createStudio({
    dataDir,
    shell: 'remote',
    version: 'test',
    worker: { modulePath: join(__dirname, '../main/worker/index.ts'), execArgv: ['--require', 'tsx/cjs'] },
  });
  return { dataDir, studio, dispatch: createStudioDispatch(studio) };
}
