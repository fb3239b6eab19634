// Times the studio's importer on a folder of real MNIST digits (PNG, 28×28, 10 class folders).
//   npx tsx bench/import.ts [--n 2000] [--runs 3] [--json]
// Each run imports the same folder into a fresh data folder (fresh SQLite database and media
// store), so runs are alike; the median run is quoted. A benchmark, not a timed test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeMnistFolder } from '../scripts/make-mnist-folder';
import { createEventBus } from '../main/services/events';
import { createImportService } from '../main/services/imports';
import { createMediaStore } from '../main/services/media';
import { openStore } from '../main/store';
import { loadLine, runMain } from './shared';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const count = Number(args.n);
const runs = Number(args.runs);

async function importOnce(folder: string): Promise<number> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-import-home-'));
  const store = openStore(path.join(dataDir, 'studio.db'));
  try {
    const imports = createImportService(store, createMediaStore(dataDir), createEventBus());
    const datasetId = store.datasets.create('bench');
    const started = performance.now();
    const { importId } = await imports.start(datasetId, { kind: 'folder', path: folder });
    await imports.idle();
    const ms = performance.now() - started;
    const report = imports.get(importId);
    if (report.status !== 'done' || report.added !== count) throw new Error(`the import ended ${report.status} with ${report.added} added`);
    return ms;
  } finally {
    store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const folder = mkdtempSync(path.join(tmpdir(), 'bench-import-digits-'));
  try {
    await makeMnistFolder(folder, count);
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      const ms = await importOnce(folder);
      times.push(ms);
      if (!args.json) console.log(`run ${run + 1}: ${count} images in ${(ms / 1000).toFixed(2)} s = ${(count / (ms / 1000)).toFixed(0)} images/s`);
    }
    const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    const line = { case: 'import a folder of MNIST digits', n: count, runs, median_ms: Math.round(median), images_per_s: Math.round(count / (median / 1000)), load: loadLine() };
    console.log(args.json ? JSON.stringify(line) : `median: ${line.images_per_s} images/s (${line.load})`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

runMain(main);
