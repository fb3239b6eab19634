// A studio process that imports a folder and reports progress on stdout, for chaos tests to
// kill with SIGKILL part-way. Usage: node --require tsx/cjs import-child.ts HOME FOLDER
import { join } from 'node:path';
import type { JobProgress } from '../../preload/api';
import { createStudio } from '../../main/studio';

const [home, folder] = process.argv.slice(2);
const studio = createStudio({
  dataDir: home!,
  shell: 'remote',
  version: 'chaos',
  worker: { modulePath: join(__dirname, '../../main/worker/index.ts'), execArgv: ['--require', 'tsx/cjs'] },
});
studio.events.subscribe((event, payload) => {
  if (event === 'job.progress') process.stdout.write(`progress ${(payload as JobProgress).done}\n`);
});
const datasetId = studio.datasets.create('chaos').id;
void studio.imports.start(datasetId, { kind: 'folder', path: folder! });
