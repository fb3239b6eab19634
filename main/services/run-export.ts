// A run's export: the adapter (HF PEFT layout), the merged model folder, the metrics as CSV and
// the run's configuration as JSON — copied into a folder the person picks in the native dialog,
// or into exports/run-<id> of the data folder, or (remote shell) downloaded one file at a time.
// Requests name a run id and an item; file names come from the run folder's own listing, so no
// path from a request ever reaches the file system.
import { copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunExport, RunExportItem, RunFile } from '../../preload/api';
import { runExportItems } from '../../preload/api';
import { writeFileAtomic } from '../engine/io/atomic';
import type { Store } from '../store';
import type { RunRow } from '../store/runs';
import { notFound, ServiceError } from './errors';

/** Items that are folders the trainer writes when a run finishes. */
const FOLDER_ITEMS = { adapter: 'adapter', model: 'model' } as const;
const GENERATED = { metrics: 'metrics.csv', config: 'run_config.json' } as const;
/** Names the trainer writes: letters, digits, dot, dash, underscore; never a path. */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$/;

const csvField = (value: string | number | null) => {
  const text = value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** A folder name from a run name: no separators or characters a file system refuses. */
const slug = (name: string) =>
  name
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 80) || 'run';

export interface RunExportOptions {
  store: Store;
  dataDir: string;
  runDir: (id: number) => string;
  /** The native folder dialog (Electron); absent in a remote-only studio. */
  pickFolder?: () => Promise<string | null>;
  /** Opens a folder in the OS shell (Electron's shell.openPath); resolves to an error message or ''. */
  openPath?: (path: string) => Promise<string>;
}

export function createRunExport({ store, dataDir, runDir, pickFolder, openPath }: RunExportOptions) {
  const requireRun = (id: number): RunRow => {
    const run = store.runs.get(id);
    if (!run) throw notFound(`Run ${id}`);
    return run;
  };

  /** The files of a folder item as the trainer wrote them (none before the run finishes). */
  async function folderFiles(id: number, item: keyof typeof FOLDER_ITEMS): Promise<RunFile[]> {
    const dir = join(runDir(id), FOLDER_ITEMS[item]);
    const names = await readdir(dir).catch(() => [] as string[]);
    const files: RunFile[] = [];
    for (const name of names.filter((n) => SAFE_NAME.test(n) && !n.endsWith('.tmp')).sort()) {
      const info = await stat(join(dir, name));
      if (info.isFile()) files.push({ item, name, bytes: info.size });
    }
    return files;
  }

  /** Every metric point of the run, one row each (long format: name, context, step, value, time). */
  function metricsCsv(id: number): Buffer {
    const rows = ['name,context,step,value,time'];
    for (const { name, context } of store.runs.summaries(id)) {
      for (const p of store.runs.series(id, name, context)) rows.push([name, context, p.step, p.value, p.time].map(csvField).join(','));
    }
    return Buffer.from(rows.join('\n') + '\n');
  }

  /** What the run was and how it ran: its settings, data and model names, outcome and checkpoints. */
  function runConfig(id: number): Buffer {
    const run = requireRun(id);
    const config = run.config as { spec?: unknown };
    const dataset = run.datasetId === null ? undefined : store.datasets.get(run.datasetId);
    const model = store.models.list().find((m) => m.id === run.modelId);
    const { pid: _pid, ...info } = run.info;
    const body = {
      id: run.id,
      name: run.name,
      method: run.method,
      status: run.status,
      createdAt: run.createdAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      dataset: dataset ? { id: dataset.id, name: dataset.name } : null,
      baseModel: model ? { id: model.id, name: model.name } : null,
      spec: config.spec ?? null,
      info,
      checkpoints: store.runs.checkpoints(id).map((c) => c.step),
    };
    return Buffer.from(JSON.stringify(body, null, 2) + '\n');
  }

  async function files(id: number): Promise<RunFile[]> {
    requireRun(id);
    const generated = (item: keyof typeof GENERATED, bytes: Buffer): RunFile => ({ item, name: GENERATED[item], bytes: bytes.byteLength });
    return [
      ...(await folderFiles(id, 'adapter')),
      ...(await folderFiles(id, 'model')),
      generated('metrics', metricsCsv(id)),
      generated('config', runConfig(id)),
    ];
  }

  /** The bytes of one exportable file, or undefined when the run has no such file. */
  async function read(id: number, item: RunExportItem, name: string): Promise<Buffer | undefined> {
    if (!store.runs.get(id) || !(runExportItems as readonly string[]).includes(item)) return undefined;
    if (item === 'metrics' || item === 'config') {
      if (name !== GENERATED[item]) return undefined;
      return item === 'metrics' ? metricsCsv(id) : runConfig(id);
    }
    // Only a name the run folder itself lists: never a path made from the request.
    const listed = (await folderFiles(id, item)).find((f) => f.name === name);
    return listed ? readFile(join(runDir(id), FOLDER_ITEMS[item], listed.name)) : undefined;
  }

  /** A fresh sub-folder of the picked one: an export never writes over what is already there. */
  async function freshFolder(parent: string, base: string): Promise<string> {
    for (let n = 1; ; n++) {
      const candidate = join(parent, n === 1 ? base : `${base}-${n}`);
      const taken = await stat(candidate).then(
        () => true,
        () => false,
      );
      if (!taken) return candidate;
    }
  }

  return {
    files,
    read,
    async exportTo(id: number, items: readonly RunExportItem[], destination: 'choose' | 'data'): Promise<RunExport> {
      const run = requireRun(id);
      const available = await files(id);
      const missing = items.filter((item) => !available.some((f) => f.item === item));
      if (missing.length > 0) {
        const why = (item: RunExportItem) =>
          item === 'model'
            ? run.status === 'done'
              ? `${run.method} has no merged model (it does not merge into the base weights)`
              : 'the merged model is written when the run finishes'
            : 'the adapter is written when the run finishes';
        throw new ServiceError('conflict', `Nothing to export for ${missing.join(' and ')}: ${missing.map(why).join('; ')}.`);
      }
      let folder: string;
      if (destination === 'choose') {
        if (!pickFolder) throw new ServiceError('unavailable', 'This studio has no folder dialog (remote shell): export into the data folder or download the files.');
        const parent = await pickFolder();
        if (parent === null) return { folder: null, files: [] };
        folder = await freshFolder(parent, `${slug(run.name)}-run${id}`);
      } else {
        // The studio's own folder for this run: the previous export of it is replaced.
        folder = join(dataDir, 'exports', `run-${id}`);
        await rm(folder, { recursive: true, force: true });
      }
      const written: string[] = [];
      try {
        for (const file of available.filter((f) => items.includes(f.item))) {
          const relative = file.item === 'adapter' || file.item === 'model' ? join(FOLDER_ITEMS[file.item], file.name) : file.name;
          await mkdir(join(folder, relative, '..'), { recursive: true });
          if (file.item === 'adapter' || file.item === 'model') await copyFile(join(runDir(id), relative), join(folder, relative));
          else await writeFileAtomic(join(folder, relative), [file.item === 'metrics' ? metricsCsv(id) : runConfig(id)]);
          written.push(relative.split('\\').join('/'));
        }
      } catch (error) {
        throw new ServiceError('io', `Cannot write the export to ${folder} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
      }
      return { folder, files: written };
    },
    /** Opens the run folder in the OS shell where the studio runs (Electron only). */
    async openFolder(id: number): Promise<{ opened: boolean }> {
      requireRun(id);
      if (!openPath) throw new ServiceError('unavailable', 'Folders open only in the desktop app; this studio runs without a desktop shell.');
      await mkdir(runDir(id), { recursive: true });
      const problem = await openPath(runDir(id));
      if (problem) throw new ServiceError('io', `The run folder did not open: ${problem}`);
      return { opened: true };
    },
  };
}

export type RunExportService = ReturnType<typeof createRunExport>;
