// A studio process in the middle of a labeling burst, for chaos tests to SIGKILL: it imports a
// folder, starts a training run (so one is "running" when the studio dies), then relabels slices
// of the dataset through the API dispatch as fast as it answers, forever. Every call is announced
// before it is made and acknowledged once the studio answered it (stdout to a pipe is synchronous
// on Linux, and writeSync makes sure), so the killer knows exactly what was acknowledged:
//   ready RUN_ID                      the run is training and has a checkpoint
//   send {"imageIds":[…],"classId":…} a labels.set call is about to be made
//   ack                               the call before it was answered ok
// Usage: node --import tsx label-child.ts HOME FOLDER MODEL_DIR
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassSummary, ImagePage, RunSummary } from '../../preload/api';
import { importModel } from '../../main/services/models';
import { createStudio, createStudioDispatch } from '../../main/studio';

const [home, folder, modelDir] = process.argv.slice(2);
const studio = createStudio({
  dataDir: home!,
  shell: 'remote',
  version: 'chaos',
  worker: { modulePath: join(__dirname, '../../main/worker/index.ts'), execArgv: ['--require', 'tsx/cjs'] },
});
const dispatch = createStudioDispatch(studio);
const say = (line: string) => writeSync(1, `${line}\n`);

async function call<T>(channel: string, input: unknown): Promise<T> {
  const envelope = await dispatch(channel, input);
  if (!envelope.ok) throw new Error(`${channel}: ${envelope.error.message}`);
  return envelope.value as T;
}

async function main() {
  const datasetId = (await call<{ id: number }>('datasets.create', { name: 'chaos' })).id;
  await studio.imports.start(datasetId, { kind: 'folder', path: folder! });
  await studio.imports.idle();
  const { id: modelId } = await importModel(studio.store, modelDir!);
  const training = new Promise<number>((resolve) => {
    studio.events.subscribe((event, payload) => {
      const run = payload as RunSummary;
      if (event === 'run.progress' && run.status === 'running' && run.step >= 6) resolve(run.id);
    });
  });
  await call('runs.create', { datasetId, modelId, method: 'lora', steps: 100_000, batchSize: 4, lr: 1e-2, seed: 1, valFraction: 0.2, evalEvery: 1_000, checkpointEvery: 4 });
  say(`ready ${await training}`);

  await call<ClassSummary>('classes.create', { datasetId, name: 'other' });
  const classIds = [...studio.store.datasets.classes(datasetId).map((c) => c.id), null];
  const ids = (await call<ImagePage>('images.page', { datasetId, offset: 0, limit: 5_000 })).items.map((i) => i.id);
  for (let n = 0; ; n++) {
    // Slices of 1 to 16 images, so single labels and multi-image (one-transaction) actions interleave.
    const start = (n * 7) % ids.length;
    const imageIds = ids.slice(start, start + 1 + (n % 16));
    const classId = classIds[n % classIds.length]!;
    say(`send ${JSON.stringify({ imageIds, classId })}`);
    await call('labels.set', { datasetId, imageIds, classId });
    say('ack');
  }
}

main().catch((error: unknown) => {
  say(`error ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
